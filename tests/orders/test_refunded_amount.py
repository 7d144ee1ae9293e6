"""An order's refunded_amount is stored on the order and kept by the database (migration 0003's triggers): it stays the
sum of the order's refunds however they are written, and no save of the order overwrites it."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from orders.models import Order, Refund
from tests.factories import OrderFactory, RefundFactory


def stored(order) -> Decimal:
    return Order.objects.values_list("refunded_amount", flat=True).get(pk=order.pk)


def summed(order) -> Decimal:
    return Refund.objects.filter(order=order).aggregate(total=Sum("amount"))["total"] or Decimal("0.00")


@pytest.fixture
def orders(db):
    return OrderFactory(amount=Decimal("500.00")), OrderFactory(amount=Decimal("500.00"))


def test_a_new_order_has_no_refunds(orders):
    first, _ = orders
    assert first.refunded_amount == stored(first) == Decimal("0.00")


def test_inserted_changed_moved_and_deleted_refunds_keep_the_total(orders):
    first, second = orders
    a = RefundFactory(order=first, amount=Decimal("10.10"))
    b = RefundFactory(order=first, amount=Decimal("20.20"))
    assert stored(first) == summed(first) == Decimal("30.30")
    b.amount = Decimal("0.30")
    b.save()
    assert stored(first) == Decimal("10.40")
    a.order = second
    a.save()
    assert (stored(first), stored(second)) == (Decimal("0.30"), Decimal("10.10"))
    b.delete()
    assert stored(first) == Decimal("0.00")
    assert str(Order.objects.get(pk=first.pk).refunded_amount) == "0.00"  # not "-0.00"
    Refund.objects.filter(order=second).delete()  # a bulk delete (the admin's action)
    assert stored(second) == Decimal("0.00")


def test_bulk_inserted_refunds_count_too(orders):
    first, _ = orders
    Refund.objects.bulk_create([Refund(order=first, amount=Decimal("0.10")) for _ in range(30)])
    assert stored(first) == summed(first) == Decimal("3.00")


def test_saving_an_order_read_before_a_refund_keeps_the_refund(orders):
    first, _ = orders
    read_before = Order.objects.get(pk=first.pk)
    RefundFactory(order=first, amount=Decimal("25.00"))
    read_before.status = "500"
    read_before.save()
    assert stored(first) == Decimal("25.00")


def test_a_patch_of_the_order_keeps_its_refunds(api, orders):
    first, _ = orders
    assert api.post(f"/api/v1/orders/{first.pk}/refunds/", {"amount": "12.50"}, format="json").status_code == 201
    response = api.patch(f"/api/v1/orders/{first.pk}/", {"status": "500"}, format="json")
    assert response.status_code == 200
    assert response.json()["refunded_amount"] == "12.50"
    assert stored(first) == Decimal("12.50")
