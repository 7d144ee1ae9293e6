"""Detailed views: the embedded channel and `orders_info`."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory

DETAILED_LIST = "/api/v1/customers/detailed/"


def detailed(pk) -> str:
    return f"/api/v1/customers/{pk}/detailed/"


def test_detailed_embeds_the_channel_object(api):
    channel = ChannelFactory(name="Web", channel_type="web", conf={"k": "v"}, catalog=3)
    customer = CustomerFactory(channel=channel)
    body = api.get(detailed(customer.pk)).json()
    assert body["channel"]["id"] == channel.pk
    assert body["channel"]["pk"] == channel.pk
    assert body["channel"]["name"] == "Web"
    assert body["channel"]["conf"] == {"k": "v"}
    assert body["channel"]["catalog"] == 3


def test_detailed_channel_is_null_without_channel(api):
    body = api.get(detailed(CustomerFactory(channel=None).pk)).json()
    assert body["channel"] is None


def test_orders_info_without_orders(api):
    body = api.get(detailed(CustomerFactory().pk)).json()
    assert body["orders_info"] == {
        "total_order_count": 0,
        "total_order_amount": None,
        "total_discount_amount": None,
        "total_refund_amount": None,
    }


def test_orders_info_sums_orders_discounts_and_refunds(api):
    customer = CustomerFactory(channel=ChannelFactory())
    first = OrderFactory(customer=customer, amount=Decimal("250.00"), discount_amount=Decimal("20.50"))
    OrderFactory(customer=customer, amount=Decimal("100.25"), discount_amount=Decimal("0.00"))
    # Two refunds on one order: a join would count that order's amount twice.
    RefundFactory(order=first, amount=Decimal("10.00"))
    RefundFactory(order=first, amount=Decimal("5.10"))
    OrderFactory(amount=Decimal("999.00"))  # another customer's order
    body = api.get(detailed(customer.pk)).json()
    assert body["orders_info"] == {
        "total_order_count": 2,
        "total_order_amount": 350.25,
        "total_discount_amount": 20.5,
        "total_refund_amount": 15.1,
    }


def test_orders_info_refund_total_is_zero_with_orders_but_no_refunds(api):
    customer = CustomerFactory()
    OrderFactory(customer=customer, amount=Decimal("10.00"))
    info = api.get(detailed(customer.pk)).json()["orders_info"]
    assert info["total_order_count"] == 1
    assert info["total_refund_amount"] == 0


def test_detailed_unknown_is_404(api):
    assert api.get(detailed(424242)).status_code == 404


def test_detailed_list_has_orders_info_for_each_customer(api):
    rich, poor = CustomerFactory(), CustomerFactory()
    OrderFactory(customer=rich, amount=Decimal("40.00"))
    body = api.get(DETAILED_LIST).json()
    by_pk = {row["pk"]: row for row in body}
    assert by_pk[rich.pk]["orders_info"]["total_order_amount"] == 40.0
    assert by_pk[poor.pk]["orders_info"]["total_order_count"] == 0
    assert by_pk[poor.pk]["orders_info"]["total_order_amount"] is None


def test_detailed_list_embeds_each_customers_channel(api):
    channels = [ChannelFactory(name=f"Channel {n}", conf={"n": str(n)}) for n in range(3)]
    customers = [CustomerFactory(channel=channels[n % 3] if n % 4 else None) for n in range(12)]
    body = api.get(DETAILED_LIST, {"limit": 100}).json()
    expected = {
        c.pk: (c.channel and {"id": c.channel.pk, "name": c.channel.name, "conf": c.channel.conf}) for c in customers
    }
    assert {
        row["pk"]: row["channel"] and {key: row["channel"][key] for key in ("id", "name", "conf")} for row in body
    } == expected


def test_detailed_list_applies_filters(api):
    wanted = CustomerFactory(email="wanted@example.com")
    CustomerFactory(email="other@example.com")
    body = api.get(DETAILED_LIST, {"email": "WANTED@example.com"}).json()
    assert [row["pk"] for row in body] == [wanted.pk]


def _queries_for(api, limit: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(DETAILED_LIST, {"limit": limit})
    assert response.status_code == 200
    assert len(response.json()) == limit
    return len(queries)


@pytest.mark.parametrize("limit", [1, 10, 50])
def test_detailed_list_query_count_does_not_grow_with_limit(api, limit):
    channels = ChannelFactory.create_batch(3)
    for n in range(51):  # a row follows every page: it is counted
        RefundFactory(order=OrderFactory(customer=CustomerFactory(channel=channels[n % 3])))
    # token lookup + permissions + page (its channels joined) + count (after the planner's estimate, on PostgreSQL)
    # + one grouped orders_info query
    assert _queries_for(api, limit) == _queries_for(api, 1) == 5 + (connection.vendor == "postgresql")
