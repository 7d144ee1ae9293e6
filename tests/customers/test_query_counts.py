"""Queries per customer read, pinned: the token, the user's permissions, then the rows themselves (NetBox's
query_counts.json, Saleor's count_queries). A detailed page is its rows, one grouped orders_info query and one query
for its channels, however many customers, channels and orders it shows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory
from tests.resources import assert_pinned

# Each read starts with the token (its user joined) and the user's permissions. A list reads its page with one row
# more first; only when that row exists are the rows counted: on PostgreSQL the planner's estimate for the filter
# (EXPLAIN) comes first and decides whether the bounded count runs at all (apicore.pagination). A filtered list's
# estimate comes before its page on PostgreSQL, whatever its length: it decides how the page is read.
# The counts are pinned per database in tests/query_counts/customers.json (`pytest --update-query-counts`).


@pytest.fixture
def customers(db):
    channels = ChannelFactory.create_batch(3)
    customers = [CustomerFactory(channel=channels[i % 3] if i % 4 else None) for i in range(12)]
    for customer in customers[:8]:
        RefundFactory(order=OrderFactory(customer=customer))
        OrderFactory(customer=customer)
    return customers


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers/{pk}/",
        "/api/v1/customers/{pk}/detailed/",  # the customer (channel joined), its orders_info
        "/api/v1/customers/?limit=10",  # the page, a row follows: the count
        "/api/v1/customers/?limit=100",  # every row fits the page: its length is the total
        "/api/v1/customers/?limit=10&email__startswith=customer",
        "/api/v1/customers/?email__startswith={email}",
        "/api/v1/customers/detailed/?limit=10",  # the page, the count, one orders_info query, the channels
        "/api/v1/customers/detailed/?limit=100",
    ],
)
def test_reads_take_a_fixed_number_of_queries(api, customers, path, request):
    url = path.format(pk=customers[5].pk, email=customers[5].email)
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200
    assert_pinned(request, "customers", f"GET {path}", captured)


def test_a_detailed_page_costs_the_same_however_many_orders_and_channels_it_shows(api, customers):
    """No query per row: a page of 10 customers in 3 channels, with orders and refunds, costs what a page of 1 does
    (both have rows after them, so both are counted)."""
    counts = []
    for limit, page in ((1, 2), (10, 1)):  # the second customer has a channel and orders, as the first ten do
        with CaptureQueriesContext(connection) as captured:
            assert len(api.get("/api/v1/customers/detailed/", {"limit": limit, "page": page}).json()) == limit
        counts.append(len(captured))
    assert counts[0] == counts[1], [query["sql"] for query in captured]
