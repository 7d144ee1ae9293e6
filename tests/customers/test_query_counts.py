"""Queries per customer read, pinned: the token, the user's permissions, then the rows themselves (NetBox's
query_counts.json, Saleor's count_queries). A detailed page is its rows, one grouped orders_info query and one query
for its channels, however many customers, channels and orders it shows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory

AUTH = 2  # the token (its user joined) and the user's permissions
# A list reads its page with one row more first; only when that row exists are the rows counted: on PostgreSQL the
# planner's estimate for the filter (EXPLAIN) comes first and decides whether the bounded count runs at all
# (apicore.pagination).
COUNT = 2 if connection.vendor == "postgresql" else 1
# A filtered list's estimate comes before its page on PostgreSQL, whatever its length: it decides how the page is
# read (sorted by the database when few matches are expected), and then the count.
ESTIMATE = 1 if connection.vendor == "postgresql" else 0


@pytest.fixture
def customers(db):
    channels = ChannelFactory.create_batch(3)
    customers = [CustomerFactory(channel=channels[i % 3] if i % 4 else None) for i in range(12)]
    for customer in customers[:8]:
        RefundFactory(order=OrderFactory(customer=customer))
        OrderFactory(customer=customer)
    return customers


@pytest.mark.parametrize(
    ("path", "queries"),
    [
        ("/api/v1/customers/{pk}/", AUTH + 1),
        ("/api/v1/customers/{pk}/detailed/", AUTH + 2),  # the customer (channel joined), its orders_info
        ("/api/v1/customers/?limit=10", AUTH + 1 + COUNT),  # the page, a row follows: the count
        ("/api/v1/customers/?limit=100", AUTH + 1),  # every row fits the page: its length is the total
        ("/api/v1/customers/?limit=10&email__startswith=customer", AUTH + 1 + COUNT),
        ("/api/v1/customers/?email__startswith={email}", AUTH + ESTIMATE + 1),
        # the page, the count, one orders_info query, the channels
        ("/api/v1/customers/detailed/?limit=10", AUTH + 1 + COUNT + 1 + 1),
        ("/api/v1/customers/detailed/?limit=100", AUTH + 1 + 1 + 1),
    ],
)
def test_reads_take_a_fixed_number_of_queries(api, customers, path, queries):
    url = path.format(pk=customers[5].pk, email=customers[5].email)
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200
    assert len(captured) == queries, [query["sql"] for query in captured]
