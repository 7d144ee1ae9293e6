"""On PostgreSQL a page's orders_info is answered by the index of a customer's orders alone (no table page read).

Index-only scans are the one access path left enabled: if the index did not hold every column the grouped query
reads, the planner would fall back to a (disabled, so heavily costed) sequential scan.
"""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.serializers import OrdersInfo
from tests.factories import OrderFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite indexes the customer alone"),
]


def nodes(plan: dict) -> list[tuple[str, str | None]]:
    found = [(plan["Node Type"], plan.get("Index Name"))]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


def test_orders_info_reads_only_the_index_of_a_customers_orders():
    orders = [OrderFactory() for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        totals = OrdersInfo().totals([order.customer for order in orders])
    assert {customer: row["total_order_count"] for customer, row in totals.items()} == {
        order.customer_id: 1 for order in orders
    }
    [query] = queries.captured_queries
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_indexscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {query['sql']}")
        [raw] = cursor.fetchone()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    scans = [node for node in nodes(plan[0]["Plan"]) if "Scan" in node[0]]
    assert scans == [("Index Only Scan", "order_customer_totals")]
