"""List pagination: `limit`/`page`, the array format with headers, and the paginated envelope."""

import re

import pytest

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
