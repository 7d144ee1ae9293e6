"""List pagination: `limit`/`page`, the array format with headers, and the paginated envelope."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from tests.factories import CustomerFactory

CUSTOMERS = "/api/v1/customers/"


@pytest.fixture
def customers(db):
    return CustomerFactory.create_batch(25)


def links(response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response["Link"])}


def test_default_page_is_ten_in_pk_order(api, customers):
    response = api.get(CUSTOMERS)
    assert [row["pk"] for row in response.json()] == [c.pk for c in customers[:10]]


def test_array_format_has_total_count_and_link_headers(api, customers):
    response = api.get(CUSTOMERS, {"limit": 5, "page": 2, "is_active": "true"})
    assert isinstance(response.json(), list)
    assert response["X-Total-Count"] == "25"
    rels = links(response)
    assert set(rels) == {"first", "prev", "next", "last"}
    assert "page=1" in rels["first"] and "page=1" in rels["prev"]
    assert "page=3" in rels["next"] and "page=5" in rels["last"]
    # filters and limit are kept in every link, which are absolute
    assert all(url.startswith("http://testserver/") and "is_active=true" in url and "limit=5" in url
               for url in rels.values())  # fmt: skip


def test_first_page_has_no_prev_and_last_page_no_next(api, customers):
    assert "prev" not in links(api.get(CUSTOMERS, {"limit": 10}))
    assert "next" not in links(api.get(CUSTOMERS, {"limit": 10, "page": 3}))


def test_limit_selects_page_size(api, customers):
    assert len(api.get(CUSTOMERS, {"limit": 7}).json()) == 7
    assert len(api.get(CUSTOMERS, {"limit": 1000}).json()) == 25


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "abc", "1.5", ""])
def test_limit_out_of_range_or_not_a_number_is_400(api, customers, limit):
    response = api.get(CUSTOMERS, {"limit": limit})
    assert response.status_code == 400
    assert "limit" in response.json()


@pytest.mark.parametrize("page", ["4", "0", "-1", "abc", "last", "99999999999999999999"])
def test_page_past_the_end_or_not_a_positive_integer_is_404(api, customers, page):
    response = api.get(CUSTOMERS, {"page": page})
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid page."


def test_empty_list_has_page_one(api, db):
    response = api.get(CUSTOMERS)
    assert response.status_code == 200
    assert response.json() == []
    assert response["X-Total-Count"] == "0"


def test_paginated_format_is_the_production_envelope(api, customers, settings):
    settings.OMNITRON_LIST_FORMAT = "paginated"
    body = api.get(CUSTOMERS, {"limit": 10, "page": 2, "is_active": "true"}).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 25
    assert [row["pk"] for row in body["results"]] == [c.pk for c in customers[10:20]]
    assert body["next"].startswith("http://testserver/api/v1/customers/?")
    assert "page=3" in body["next"] and "limit=10" in body["next"] and "is_active=true" in body["next"]
    assert "limit=10" in body["previous"] and "is_active=true" in body["previous"]


def test_paginated_format_iterates_every_row_through_next(api, customers, settings):
    settings.OMNITRON_LIST_FORMAT = "paginated"
    seen, url = [], CUSTOMERS + "?limit=4"
    while url:
        body = api.get(url).json()
        seen += [row["pk"] for row in body["results"]]
        url = body["next"]
    assert seen == [c.pk for c in customers]


def test_detailed_list_paginates_the_same_way(api, customers):
    response = api.get("/api/v1/customers/detailed/", {"limit": 5, "page": 5})
    assert len(response.json()) == 5
    assert response["X-Total-Count"] == "25"


# --- Counts at scale: exact up to OMNITRON_EXACT_COUNT_LIMIT, the planner's estimate above it (PostgreSQL) --------


@pytest.fixture
def large(db, customers, settings):
    """25 customers against a limit lowered to 20: "large" for the counting rule, with fresh planner statistics."""
    settings.OMNITRON_EXACT_COUNT_LIMIT = 20
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_customer")
    return customers


postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the planner estimate is PostgreSQL's")


@postgresql_only
def test_count_above_the_limit_is_the_planners_estimate_and_says_so(api, large):
    response = api.get(CUSTOMERS, {"limit": 10})
    assert response["X-Total-Count-Estimated"] == "true"
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) SELECT * FROM customers_customer")
        planned = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
    assert response["X-Total-Count"] == str(max(planned, 21))


@postgresql_only
def test_estimated_count_never_claims_fewer_rows_than_the_limit(api, large):
    # Whatever the planner guesses for the filter, more than 20 rows are known to match.
    response = api.get(CUSTOMERS, {"email__startswith": "customer"})
    assert response["X-Total-Count-Estimated"] == "true"
    assert int(response["X-Total-Count"]) >= 21


def test_count_at_or_below_the_limit_is_exact_and_unflagged(api, large):
    response = api.get(CUSTOMERS, {"pk__in": ",".join(str(c.pk) for c in large[:20])})
    assert response["X-Total-Count"] == "20"
    assert "X-Total-Count-Estimated" not in response


@pytest.mark.skipif("connection.vendor == 'postgresql'", reason="SQLite has no planner estimate")
def test_sqlite_counts_exactly_above_the_limit(api, large):
    response = api.get(CUSTOMERS)
    assert response["X-Total-Count"] == "25"
    assert "X-Total-Count-Estimated" not in response


@postgresql_only
def test_estimated_pages_are_found_by_rows_not_by_the_estimate(api, large):
    pages = [api.get(CUSTOMERS, {"limit": 10, "page": page}) for page in (1, 2)]
    assert [len(page.json()) for page in pages] == [10, 10]
    assert [page["X-Total-Count-Estimated"] for page in pages] == ["true", "true"]
    assert [set(links(page)) for page in pages] == [{"first", "next"}, {"first", "prev", "next"}]
    for page in ("4", "99999999999999999999", str(2**62)):
        assert api.get(CUSTOMERS, {"limit": 10, "page": page}).status_code == 404


@postgresql_only
def test_the_last_page_of_an_estimated_list_answers_the_exact_total(api, large):
    response = api.get(CUSTOMERS, {"limit": 10, "page": 3})
    assert len(response.json()) == 5
    assert response["X-Total-Count"] == "25"
    assert "X-Total-Count-Estimated" not in response
    assert set(links(response)) == {"first", "prev", "last"}


@postgresql_only
def test_an_estimate_far_above_the_limit_is_trusted_without_counting(api, large, settings):
    settings.OMNITRON_EXACT_COUNT_LIMIT = 2  # the planner expects 25 rows: more than twice the limit
    with CaptureQueriesContext(connection) as queries:
        response = api.get(CUSTOMERS, {"limit": 10})
    assert response["X-Total-Count-Estimated"] == "true"
    assert response["X-Total-Count"] == "25"
    assert not [query for query in queries if "COUNT(" in query["sql"].upper()]


@postgresql_only
def test_an_overestimate_is_corrected_where_rows_prove_otherwise(api, large, settings):
    settings.OMNITRON_EXACT_COUNT_LIMIT = 1
    Customer.objects.filter(pk__in=[c.pk for c in large[12:]]).delete()  # the planner still expects 25
    first = api.get(CUSTOMERS, {"limit": 10})
    assert first["X-Total-Count-Estimated"] == "true" and first["X-Total-Count"] == "25"
    last = api.get(CUSTOMERS, {"limit": 10, "page": 2})
    assert [row["pk"] for row in last.json()] == [c.pk for c in large[10:12]]
    assert last["X-Total-Count"] == "12" and "X-Total-Count-Estimated" not in last


@postgresql_only
def test_paginated_envelope_keeps_count_when_estimated(api, large, settings):
    settings.OMNITRON_LIST_FORMAT = "paginated"
    response = api.get(CUSTOMERS, {"limit": 10, "page": 2})
    body = response.json()
    assert response["X-Total-Count-Estimated"] == "true"
    assert body["count"] >= 21 and "page=3" in body["next"] and "page" not in body["previous"].split("?")[1]
    assert [row["pk"] for row in body["results"]] == [c.pk for c in large[10:20]]


def test_limit_zero_counts_exactly_always(api, large, settings):
    settings.OMNITRON_EXACT_COUNT_LIMIT = 0
    response = api.get(CUSTOMERS)
    assert response["X-Total-Count"] == "25"
    assert "X-Total-Count-Estimated" not in response
    assert "last" in links(response)


# --- A date range in the id order (PostgreSQL reads narrow ones by the range's index) -------------------------------


@pytest.fixture
def dated(db, settings):
    """60 customers created a day apart, in id order, as a production table grows, against a limit of 20."""
    settings.OMNITRON_EXACT_COUNT_LIMIT = 20
    customers = CustomerFactory.create_batch(60)
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    for n, customer in enumerate(customers):
        customer.created_date = start + datetime.timedelta(days=n)
        Customer.objects.filter(pk=customer.pk).update(created_date=customer.created_date)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_customer")
    return customers


def day(customers, n: int) -> str:
    return customers[n].created_date.isoformat()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"created_date__gte": 55}, lambda c: c[55:]),  # the newest few, the trap of the id order
        ({"created_date__gt": 55}, lambda c: c[56:]),
        ({"created_date__lte": 3}, lambda c: c[:4]),
        ({"created_date__gte": 50, "sort": "-id"}, lambda c: c[50:][::-1]),
        ({"created_date__gte": 40, "limit": 5, "page": 2}, lambda c: c[45:50]),
        ({"created_date__gte": 40, "created_date__lt": 48}, lambda c: c[40:48]),
        ({"created_date__gte": 10}, lambda c: c[10:20]),  # more matches than the exact-count limit
    ],
)
def test_a_date_range_in_id_order_answers_its_rows_in_that_order(api, dated, params, expected):
    params = {key: day(dated, value) if key.startswith("created_date") else value for key, value in params.items()}
    response = api.get(CUSTOMERS, params)
    assert response.status_code == 200
    assert [row["pk"] for row in response.json()] == [c.pk for c in expected(dated)]


def test_a_narrow_date_range_counts_exactly(api, dated):
    response = api.get(CUSTOMERS, {"created_date__gte": day(dated, 55)})
    assert response["X-Total-Count"] == "5"
    assert "X-Total-Count-Estimated" not in response
    later = api.get(CUSTOMERS, {"created_date__gte": day(dated, 40), "limit": 5, "page": 2})
    assert later["X-Total-Count"] == "20" and set(links(later)) == {"first", "prev", "next", "last"}
    assert "page=4" in links(later)["last"]


SORTED_BY_THE_DATABASE = '("customers_customer"."id" + 0)'


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"created_date__gte": 30}, lambda c: c[30:40]),
        ({"created_date__gte": 30, "limit": 5, "page": 3}, lambda c: c[40:45]),
        ({"created_date__gte": 30, "sort": "-id"}, lambda c: c[30:][::-1][:10]),
        ({"created_date__lte": 25}, lambda c: c[:10]),
        ({"created_date__lte": 25, "sort": "-id"}, lambda c: c[:26][::-1][:10]),
        ({"created_date__gte": 20, "created_date__lt": 45, "page": 2}, lambda c: c[30:40]),
        ({"created_date__gte": 5}, lambda c: c[5:15]),  # most of the table
    ],
)
def test_a_broad_date_range_in_id_order_answers_its_rows_in_that_order(api, dated, settings, params, expected):
    settings.OMNITRON_EXACT_COUNT_LIMIT = 5  # every range here is past twice the limit
    params = {key: day(dated, value) if key.startswith("created_date") else value for key, value in params.items()}
    response = api.get(CUSTOMERS, params)
    assert [row["pk"] for row in response.json()] == [c.pk for c in expected(dated)]


# --- A filtered page in the id order: sorted by the database when the planner expects few matches ----------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, lambda c: c[:10]),
        ({"sort": "-id"}, lambda c: c[::-1][:10]),
        ({"limit": 5, "page": 3}, lambda c: c[10:15]),
        ({"limit": 5, "page": 2, "sort": "-id"}, lambda c: c[::-1][5:10]),
    ],
)
@pytest.mark.parametrize("exact_count_limit", [20, 5], ids=["few-expected", "many-expected"])
def test_a_filtered_page_answers_its_rows_in_the_id_order(api, large, settings, exact_count_limit, params, expected):
    settings.OMNITRON_EXACT_COUNT_LIMIT = exact_count_limit
    response = api.get(CUSTOMERS, {"email__startswith": "customer", **params})
    assert response.status_code == 200
    assert [row["pk"] for row in response.json()] == [c.pk for c in expected(large)]
