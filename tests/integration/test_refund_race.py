"""Concurrent refunds against the real server: an order's refunds never add up to more than its amount.

The requests are real and simultaneous: one HTTP connection per thread, opened first, then all released together
by a barrier, served by gunicorn's default workers and threads. On PostgreSQL the refund service locks the order row
(SELECT ... FOR UPDATE) so the check and the insert of one refund happen before the next refund looks; SQLite
serializes writers (BEGIN IMMEDIATE), which decides the race the same way.
"""

import itertools
from decimal import Decimal

import pytest

from tests.integration.conftest import race, request

ORDER_NUMBERS = itertools.count(1)


def created(server, path: str, body: dict) -> dict:
    status, answer, _ = request(server, "POST", path, body)
    assert status == 201, (path, status, answer)
    return answer


def race_posts(server, path: str, bodies: list[dict]) -> list[tuple[int, object]]:
    """POST each body at once; every answer, in the order of `bodies`."""
    sends = [lambda conn, body=body: request(server, "POST", path, body, conn=conn) for body in bodies]
    return [(status, answer) for status, answer, _ in race(server, sends)]


@pytest.fixture(scope="module")
def customer(integration_server) -> dict:
    channel = created(
        integration_server,
        "/api/v1/channels/",
        {"name": "Race shop", "catalog": 1, "channel_type": "web", "conf": {}, "is_active": True},
    )
    return created(
        integration_server,
        "/api/v1/customers/",
        {"channel": channel["pk"], "email": "racer@example.com", "channel_code": "racer", "is_active": True,
         "email_allowed": False, "sms_allowed": False, "call_allowed": False},
    )  # fmt: skip


@pytest.fixture
def new_order(integration_server, customer):
    def make(amount: str) -> dict:
        order = created(
            integration_server,
            "/api/v1/orders/",
            {"number": f"RACE-{next(ORDER_NUMBERS)}", "channel": customer["channel"],
             "customer": customer["pk"], "date_placed": "2026-01-15T10:00:00Z", "currency": "TRY", "amount": amount},
        )  # fmt: skip
        assert order["amount"] == amount
        assert order["refunded_amount"] == "0.00"
        return order

    return make


def assert_refund_state(server, order: dict, refunded: str, count: int) -> None:
    status, fetched, _ = request(server, "GET", f"/api/v1/orders/{order['pk']}/")
    assert status == 200, fetched
    assert fetched["refunded_amount"] == refunded
    status, refunds, _ = request(server, "GET", f"/api/v1/orders/{order['pk']}/refunds/")
    assert status == 200, refunds
    assert len(refunds) == count
    assert {refund["order"] for refund in refunds} == {order["pk"]}
    assert sum(Decimal(refund["amount"]) for refund in refunds) == Decimal(refunded)


def test_concurrent_refunds_never_exceed_the_order_amount(server_log, new_order):
    server = server_log
    order = new_order("100.00")
    attempts = 8

    answers = race_posts(server, f"/api/v1/orders/{order['pk']}/refunds/", [{"amount": "30.00"}] * attempts)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 3 + [400] * (attempts - 3), answers
    for status, body in answers:
        if status == 201:
            assert (body["order"], body["amount"]) == (order["pk"], "30.00")
        else:
            assert "amount" in body, body
    assert len({body["pk"] for status, body in answers if status == 201}) == 3
    assert_refund_state(server, order, "90.00", 3)

    # What is left can still be refunded, exactly once.
    assert request(server, "POST", f"/api/v1/orders/{order['pk']}/refunds/", {"amount": "10.01"})[0] == 400
    assert request(server, "POST", f"/api/v1/orders/{order['pk']}/refunds/", {"amount": "10.00"})[0] == 201
    assert_refund_state(server, order, "100.00", 4)


@pytest.mark.parametrize("round_", range(5))
def test_two_refunds_racing_for_the_last_unit(server_log, new_order, round_):
    server = server_log
    order = new_order("10.00")

    answers = race_posts(server, f"/api/v1/orders/{order['pk']}/refunds/", [{"amount": "10.00", "reason": "race"}] * 2)

    assert sorted(status for status, _ in answers) == [201, 400], answers
    rejected = next(body for status, body in answers if status == 400)
    assert "amount" in rejected, rejected
    assert_refund_state(server, order, "10.00", 1)
