"""Duplicate POSTs with one Idempotency-Key, sent at once to the real server, create exactly one record.

One HTTP connection per thread, opened first, then every request released together by a barrier, served by
gunicorn's default workers and threads. The key's claim is a unique row inserted before the request runs: one request
inserts it and runs; every other one answers 409 while it runs, or replays its answer once it has finished.
"""

import itertools

import pytest

from tests.integration.conftest import race, request

DUPLICATES = 8
ROUNDS = itertools.count(1)


def race_duplicates(server, path: str, body: dict, key: str) -> list[tuple[int, object, object]]:
    """POST the same body with the same key DUPLICATES times at once; every answer."""
    return race(
        server,
        [lambda conn: request(server, "POST", path, body, {"Idempotency-Key": key}, conn=conn)] * DUPLICATES,
    )


def assert_one_execution(answers) -> dict:
    """Exactly one answer ran the request (201); the others replayed it or were told it is running (409)."""
    created = [(body, headers.get("Idempotent-Replayed")) for status, body, headers in answers if status == 201]
    ran = [body for body, replayed in created if replayed is None]
    replayed = [body for body, replayed in created if replayed == "true"]
    running = [body for status, body, _ in answers if status == 409]
    assert len(ran) == 1, answers
    assert len(ran) + len(replayed) + len(running) == DUPLICATES, answers
    assert all(body == ran[0] for body in replayed)
    assert all(body["code"] == "idempotency_key_in_use" for body in running)
    print(f"\n1 ran, {len(replayed)} replayed, {len(running)} answered 409")
    return ran[0]


@pytest.mark.parametrize("round_", range(3))
def test_duplicate_customer_posts_create_one_customer(server_log, round_):
    server = server_log
    code = f"idem-{next(ROUNDS)}"
    body = {"email": f"{code}@example.com", "channel_code": code, "is_active": True,
            "email_allowed": False, "sms_allowed": False, "call_allowed": False}  # fmt: skip

    created = assert_one_execution(race_duplicates(server, "/api/v1/customers/", body, key=f"key-{code}"))

    status, found, headers = request(server, "GET", f"/api/v1/customers/?channel_code={code}")
    assert status == 200
    assert headers["X-Total-Count"] == "1"
    assert [customer["pk"] for customer in found] == [created["pk"]]
    # Once it has finished, a retry replays it.
    status, replayed, headers = request(server, "POST", "/api/v1/customers/", body, {"Idempotency-Key": f"key-{code}"})
    assert (status, replayed, headers["Idempotent-Replayed"]) == (201, created, "true")


def test_duplicate_refund_posts_refund_once(server_log):
    server = server_log
    status, channel, _ = request(
        server, "POST", "/api/v1/channels/", {"name": "Idem", "catalog": 1, "channel_type": "web", "conf": {},
                                              "is_active": True},
    )  # fmt: skip
    assert status == 201, channel
    status, customer, _ = request(
        server, "POST", "/api/v1/customers/",
        {"channel": channel["pk"], "email": "refunded@example.com", "channel_code": "refunded", "is_active": True,
         "email_allowed": False, "sms_allowed": False, "call_allowed": False},
    )  # fmt: skip
    assert status == 201, customer
    status, order, _ = request(
        server, "POST", "/api/v1/orders/",
        {"number": "IDEM-1", "channel": channel["pk"], "customer": customer["pk"],
         "date_placed": "2026-01-15T10:00:00Z", "currency": "TRY", "amount": "100.00"},
    )  # fmt: skip
    assert status == 201, order

    path = f"/api/v1/orders/{order['pk']}/refunds/"
    refund = assert_one_execution(race_duplicates(server, path, {"amount": "10.00"}, key="refund-once"))

    status, refunds, _ = request(server, "GET", path)
    assert status == 200
    assert [r["pk"] for r in refunds] == [refund["pk"]]
    status, order, _ = request(server, "GET", f"/api/v1/orders/{order['pk']}/")
    assert order["refunded_amount"] == "10.00"
