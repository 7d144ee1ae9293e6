from decimal import Decimal

import pytest

from orders.models import Refund
from tests.factories import OrderFactory, RefundFactory


def refunds(order) -> str:
    return f"/api/v1/orders/{order.pk}/refunds/"


@pytest.fixture
def order(db):
    return OrderFactory(amount=Decimal("100.00"))


def test_create_and_list_refunds(api, order):
    response = api.post(refunds(order), {"amount": "30.50", "reason": "damaged"}, format="json")
    assert response.status_code == 201
    assert response.json()["amount"] == "30.50"
    assert response.json()["reason"] == "damaged"
    assert response.json()["order"] == order.pk
    listed = api.get(refunds(order)).json()
    assert [row["amount"] for row in listed] == ["30.50"]
    assert api.get(f"/api/v1/orders/{order.pk}/").json()["refunded_amount"] == "30.50"


def test_reason_is_optional(api, order):
    assert api.post(refunds(order), {"amount": 1}, format="json").json()["reason"] == ""


@pytest.mark.parametrize(("amount", "code"), [("0", "min_value"), ("-5", "min_value"), ("x", "invalid")])
def test_amount_must_be_positive(api, order, amount, code):
    response = api.post(refunds(order), {"amount": amount}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_refunds_never_exceed_the_order_amount(api, order):
    RefundFactory(order=order, amount=Decimal("90.00"))
    response = api.post(refunds(order), {"amount": "10.01"}, format="json")
    assert response.status_code == 400
    assert "amount" in response.json()
    assert api.post(refunds(order), {"amount": "10.00"}, format="json").status_code == 201
    assert sum(r.amount for r in Refund.objects.filter(order=order)) == Decimal("100.00")


def test_refunds_of_another_order_are_not_listed(api, order):
    RefundFactory(amount=Decimal("1.00"))
    assert api.get(refunds(order)).json() == []


def test_unknown_order_is_404(api):
    assert api.get("/api/v1/orders/424242/refunds/").status_code == 404
    assert api.post("/api/v1/orders/424242/refunds/", {"amount": 1}, format="json").status_code == 404


def test_refunds_cannot_be_changed_or_deleted(api, order):
    refund = RefundFactory(order=order)
    assert api.delete(f"{refunds(order)}{refund.pk}/").status_code == 404
    assert api.put(refunds(order), {"amount": 1}, format="json").status_code == 405
