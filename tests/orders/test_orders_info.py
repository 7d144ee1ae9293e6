"""`orders_info` of the detailed customer views, driven through the HTTP API only."""

import pytest

CUSTOMER = {"is_active": True, "email_allowed": False, "sms_allowed": False, "call_allowed": False}


@pytest.fixture
def shop(api):
    channel = api.post(
        "/api/v1/channels/",
        {"name": "Web", "catalog": 1, "channel_type": "web", "conf": {}, "is_active": True},
        format="json",
    ).json()

    def customer(code: str) -> dict:
        body = {**CUSTOMER, "email": f"{code}@example.com", "channel_code": code, "channel": channel["pk"]}
        return api.post("/api/v1/customers/", body, format="json").json()

    def order(customer: dict, number: str, amount: str, discount: str = "0") -> dict:
        body = {"number": number, "channel": channel["pk"], "customer": customer["pk"], "currency": "TRY",
                "date_placed": "2024-05-01T10:00:00Z", "amount": amount, "discount_amount": discount}  # fmt: skip
        response = api.post("/api/v1/orders/", body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    def refund(order: dict, amount: str) -> None:
        assert api.post(f"/api/v1/orders/{order['pk']}/refunds/", {"amount": amount}, format="json").status_code == 201

    return customer, order, refund


def orders_info(api, customer: dict) -> dict:
    return api.get(f"/api/v1/customers/{customer['pk']}/detailed/").json()["orders_info"]


def test_orders_and_partial_refunds_add_up(api, shop):
    customer, order, refund = shop
    ayse = customer("ayse")
    first = order(ayse, "N-1", "250.00", "25.50")
    second = order(ayse, "N-2", "100.10")
    refund(first, "50.00")
    refund(first, "20.25")
    refund(second, "0.10")
    assert orders_info(api, ayse) == {
        "total_order_count": 2,
        "total_order_amount": 350.1,
        "total_discount_amount": 25.5,
        "total_refund_amount": 70.35,
    }


def test_orders_without_refunds_refund_zero(api, shop):
    customer, order, _ = shop
    mehmet = customer("mehmet")
    order(mehmet, "N-3", "10.00")
    assert orders_info(api, mehmet) == {
        "total_order_count": 1,
        "total_order_amount": 10.0,
        "total_discount_amount": 0,
        "total_refund_amount": 0,
    }


def test_customer_without_orders(api, shop):
    customer, _, _ = shop
    assert orders_info(api, customer("nobody")) == {
        "total_order_count": 0,
        "total_order_amount": None,
        "total_discount_amount": None,
        "total_refund_amount": None,
    }


def test_detailed_list_page(api, shop):
    customer, order, refund = shop
    buyers = [customer(f"buyer{n}") for n in range(3)]
    for n, buyer in enumerate(buyers[:2]):
        refund(order(buyer, f"L-{n}", "40.00"), "5.00")
    page = api.get("/api/v1/customers/detailed/", {"limit": 3}).json()
    infos = {row["pk"]: row["orders_info"] for row in page}
    assert infos[buyers[0]["pk"]]["total_refund_amount"] == 5.0
    assert infos[buyers[1]["pk"]]["total_order_amount"] == 40.0
    assert infos[buyers[2]["pk"]]["total_order_count"] == 0
