from decimal import Decimal

import pytest

from orders.models import Order
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory

ORDERS = "/api/v1/orders/"


def detail(pk) -> str:
    return f"{ORDERS}{pk}/"


@pytest.fixture
def channel(db):
    return ChannelFactory()


@pytest.fixture
def payload(channel) -> dict:
    customer = CustomerFactory(channel=channel)
    return {
        "number": "ORD-1001",
        "channel": channel.pk,
        "customer": customer.pk,
        "date_placed": "2024-05-01T10:00:00Z",
        "currency": "try",
        "amount": "250.00",
        "discount_amount": 20,
        "shipping_amount": "9.9",
    }


def test_create_returns_money_as_two_place_strings(api, payload):
    response = api.post(ORDERS, payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["currency"] == "TRY"
    assert (body["amount"], body["discount_amount"], body["shipping_amount"]) == ("250.00", "20.00", "9.90")
    assert body["refunded_amount"] == "0.00"
    assert body["status"] == "200"
    assert Order.objects.get().amount == Decimal("250.00")


def test_status_travels_as_the_code_string(api, payload):
    payload["status"] = "400"
    assert api.post(ORDERS, payload, format="json").json()["status"] == "400"


@pytest.mark.parametrize("missing", ["number", "channel", "customer", "date_placed", "currency", "amount"])
def test_create_without_a_required_field_is_400(api, payload, missing):
    del payload[missing]
    response = api.post(ORDERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "required"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("amount", "-1.00", "min_value"),
        ("discount_amount", "-0.01", "min_value"),
        ("shipping_amount", -5, "min_value"),
        ("amount", "12.345", "max_decimal_places"),
        ("amount", "abc", "invalid"),
        ("discount_amount", "250.01", "max_value"),
        ("currency", "T1Y", "invalid"),
        ("currency", "ßa", "invalid"),  # upper-cased it would read "SSA"
        ("currency", "TR", "invalid"),
        ("currency", "EURO", "invalid"),
        ("status", "999", "invalid_choice"),
        ("customer", 424242, "does_not_exist"),
        ("channel", 424242, "does_not_exist"),
        ("date_placed", "yesterday", "invalid"),
    ],
)
def test_create_with_an_invalid_value_is_400(api, payload, field, value, code):
    payload[field] = value
    response = api.post(ORDERS, payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert field in response.json()
    assert not Order.objects.exists()


def test_number_is_unique_per_channel(api, payload, channel):
    OrderFactory(channel=channel, number="ORD-1001", customer=CustomerFactory(channel=channel))
    response = api.post(ORDERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unique"
    assert "number" in response.json()


def test_the_same_number_in_another_channel_is_allowed(api, payload):
    OrderFactory(number="ORD-1001")
    assert api.post(ORDERS, payload, format="json").status_code == 201


def test_a_customer_of_another_channel_is_refused(api, payload):
    payload["customer"] = CustomerFactory(channel=ChannelFactory()).pk
    response = api.post(ORDERS, payload, format="json")
    assert response.status_code == 400
    assert "customer" in response.json()


def test_a_customer_without_channel_may_order_in_any_channel(api, payload):
    payload["customer"] = CustomerFactory(channel=None).pk
    assert api.post(ORDERS, payload, format="json").status_code == 201


def test_patch(api):
    order = OrderFactory(amount=Decimal("100.00"))
    response = api.patch(detail(order.pk), {"status": "500", "shipping_amount": "5"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "500" and response.json()["shipping_amount"] == "5.00"


def test_patch_cannot_lower_the_amount_below_the_discount(api):
    order = OrderFactory(amount=Decimal("100.00"), discount_amount=Decimal("50.00"))
    response = api.patch(detail(order.pk), {"amount": "40.00"}, format="json")
    assert response.status_code == 400
    assert "discount_amount" in response.json()


def test_retrieve_shows_refunded_amount(api):
    order = OrderFactory(amount=Decimal("100.00"))
    RefundFactory(order=order, amount=Decimal("10.50"))
    RefundFactory(order=order, amount=Decimal("4.50"))
    assert api.get(detail(order.pk)).json()["refunded_amount"] == "15.00"


@pytest.mark.parametrize("method", ["put", "delete"])
def test_orders_are_never_replaced_or_deleted(api, method):
    order = OrderFactory()
    assert getattr(api, method)(detail(order.pk), {}, format="json").status_code == 405
    assert Order.objects.filter(pk=order.pk).exists()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["pk"] for row in response.json()]


def test_filters(api):
    first = OrderFactory(number="A-1", status="200", date_placed="2024-05-01T10:00:00Z")
    second = OrderFactory(number="A-2", status="400", date_placed="2024-05-02T10:00:00Z")
    assert ids(api.get(ORDERS, {"customer": first.customer_id})) == [first.pk]
    assert ids(api.get(ORDERS, {"channel": second.channel_id})) == [second.pk]
    assert ids(api.get(ORDERS, {"status": "400"})) == [second.pk]
    assert ids(api.get(ORDERS, {"number": "A-1"})) == [first.pk]
    assert ids(api.get(ORDERS, {"date_placed__gte": "2024-05-02T00:00:00Z"})) == [second.pk]
    assert ids(api.get(ORDERS, {"date_placed__lt": "2024-05-02T00:00:00Z"})) == [first.pk]
    assert ids(api.get(ORDERS, {"date_placed__date": "2024-05-01"})) == [first.pk]
    assert ids(api.get(ORDERS, {"pk__in": f"{second.pk}"})) == [second.pk]
    assert ids(api.get(ORDERS, {"sort": "-date_placed"})) == [second.pk, first.pk]


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "1"), ("customer", "x"), ("date_placed__gt", "x"), ("pk__in", "x"), ("limit", "0"), ("sort", "x")],
)
def test_invalid_filter_value_is_400_naming_it(api, param, value):
    response = api.get(ORDERS, {param: value})
    assert response.status_code == 400
    assert param in response.json()
