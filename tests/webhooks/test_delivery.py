"""The worker delivers each matching event, signed, to receivers on loopback; retries with growing delays, gives up,
disables a webhook that only fails; a slow receiver holds back no other."""

import datetime
import itertools
import json
import time

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import CustomerFactory
from tests.webhooks.conftest import Receiver, eventually, retrying, running_worker, verify
from webhooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db(transaction=True)


def create_webhook(api, url, **fields) -> dict:
    response = api.post("/api/v1/webhooks/", {"url": url, **fields}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_change_is_posted_signed_with_the_event_as_the_feed_shows_it(api, webhook_settings):
    receiver = Receiver()
    webhook = create_webhook(api, receiver.url)
    created = api.post(
        "/api/v1/customers/",
        {"email": "ada@example.com", "channel_code": "c-1", "is_active": True},
        format="json",
        HTTP_X_REQUEST_ID="req-7",
    )
    with running_worker():
        (request,) = [receiver.wait_for(1) and receiver.requests[0]]
    headers, body = request["headers"], request["body"]
    assert verify(webhook["secret"], headers["Omnitron-Signature"], body)
    assert not verify("whsec_other", headers["Omnitron-Signature"], body)
    (event,) = api.get("/api/v1/events/").json()
    assert json.loads(body) == event
    assert event["data"] == created.json() and event["request_id"] == "req-7"
    assert headers["Omnitron-Event-Id"] == str(event["id"])
    assert headers["Omnitron-Event-Type"] == "customer.created"
    assert headers["Content-Type"] == "application/json"

    (delivery,) = eventually(lambda: api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries/?status=succeeded").json())
    assert delivery["event"] == event["id"] and delivery["attempt_count"] == 1
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] == 200 and attempt["response"] == '{"received": 1}' and attempt["error"] == ""
    assert attempt["duration_ms"] >= 0


def test_only_the_event_types_a_webhook_names_are_sent(api, webhook_settings):
    receiver = Receiver()
    create_webhook(api, receiver.url, events=["customer.updated"])
    customer = CustomerFactory(first_name="Ada")
    customer.first_name = "Grace"
    customer.save()
    with running_worker():
        receiver.wait_for(1)
        time.sleep(0.3)  # nothing else follows
    assert [event["type"] for event in receiver.events()] == ["customer.updated"]


def test_events_before_a_webhook_existed_are_not_sent(api, webhook_settings):
    CustomerFactory()
    receiver = Receiver()
    create_webhook(api, receiver.url)
    CustomerFactory(email="after@example.com")
    with running_worker():
        receiver.wait_for(1)
        time.sleep(0.3)
    assert [event["data"]["email"] for event in receiver.events()] == ["after@example.com"]


def test_a_failed_delivery_is_retried_with_growing_delays_until_it_succeeds(api, webhook_settings):
    receiver = Receiver(answer=lambda number: 500 if number < 4 else 200)
    webhook = create_webhook(api, receiver.url)
    CustomerFactory()
    with running_worker():
        receiver.wait_for(4)
        delivery = eventually(lambda: Delivery.objects.filter(status=Delivery.SUCCEEDED).first())
    times = [request["time"] for request in receiver.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 0.2 s doubling, each wait between half and all of it: [0.1, 0.2], [0.2, 0.4], [0.4, 0.8]
    assert 0.1 <= gaps[0] and gaps[0] <= gaps[1] <= gaps[2], gaps
    assert gaps[2] >= 0.4
    assert delivery.attempt_count == 4
    listed = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries/").json()[0]
    assert [attempt["status_code"] for attempt in listed["attempts"]] == [200, 500, 500, 500]  # newest first
    assert len({request["headers"]["Omnitron-Event-Id"] for request in receiver.requests}) == 1


def test_no_answer_in_time_is_a_failure_and_is_retried(api, webhook_settings):
    webhook_settings.OMNITRON_WEBHOOK_TIMEOUT = 0.3
    receiver = Receiver(answer=lambda number: time.sleep(1) or 200 if number == 1 else 200)
    webhook = create_webhook(api, receiver.url)
    CustomerFactory()
    with running_worker():
        receiver.wait_for(2)
        eventually(lambda: Delivery.objects.filter(status=Delivery.SUCCEEDED).exists())
    success, timed_out = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries/").json()[0]["attempts"]
    assert success["status_code"] == 200
    assert timed_out["status_code"] is None and timed_out["error"] == "No answer within 0.3 s."
    assert timed_out["duration_ms"] >= 300


def test_a_receiver_down_then_up_gets_every_event(api, webhook_settings):
    receiver = Receiver()
    create_webhook(api, receiver.url)
    receiver.close()  # down: connections are refused
    for index in range(5):
        CustomerFactory(email=f"c{index}@example.com")
    with running_worker():
        eventually(lambda: Delivery.objects.filter(attempt_count__gte=1).count() == 5)
        receiver.start()  # up again, on the same port
        receiver.wait_for(5)
        eventually(lambda: Delivery.objects.filter(status=Delivery.SUCCEEDED).count() == 5)
    assert sorted(event["data"]["email"] for event in receiver.events()) == [
        f"c{index}@example.com" for index in range(5)
    ]
    assert all(attempt.error for attempt in Delivery.objects.first().attempts.filter(status_code=None))


def test_a_delivery_is_given_up_after_its_retry_window(api, webhook_settings):
    webhook_settings.OMNITRON_WEBHOOK_RETRY_HOURS = 0.5 / 3600  # half a second
    receiver = Receiver(answer=lambda number: 503)
    webhook = create_webhook(api, receiver.url)
    CustomerFactory()
    with running_worker():
        delivery = eventually(lambda: Delivery.objects.filter(status=Delivery.FAILED).first())
    assert delivery.attempt_count == len(receiver.requests) >= 2
    assert api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries/?status=failed").json()[0]["id"] == delivery.pk


def test_a_webhook_that_fails_every_delivery_long_enough_is_disabled_and_says_so(api, webhook_settings):
    webhook_settings.OMNITRON_WEBHOOK_DISABLE_HOURS = 0.5 / 3600
    receiver = Receiver(answer=lambda number: 500)
    webhook = create_webhook(api, receiver.url)
    CustomerFactory()
    with running_worker():
        eventually(lambda: not Webhook.objects.get(pk=webhook["id"]).is_active)
        sent = len(receiver.requests)
        retrying(lambda: CustomerFactory(email="later@example.com"))
        time.sleep(0.5)
    assert len(receiver.requests) == sent  # nothing more is sent to it
    shown = api.get(f"/api/v1/webhooks/{webhook['id']}/").json()
    assert shown["is_active"] is False
    assert "every delivery attempt failed" in shown["disabled_reason"]
    assert shown["failing_since"] is not None


def test_a_success_ends_a_run_of_failures(api, webhook_settings):
    receiver = Receiver(answer=lambda number: 500 if number == 1 else 200)
    webhook = create_webhook(api, receiver.url)
    CustomerFactory()
    with running_worker():
        eventually(lambda: Webhook.objects.get(pk=webhook["id"]).failing_since is not None)
        eventually(lambda: Delivery.objects.filter(status=Delivery.SUCCEEDED).exists())
        eventually(lambda: Webhook.objects.get(pk=webhook["id"]).failing_since is None)


def test_redeliver_sends_a_delivered_event_again(api, webhook_settings):
    receiver = Receiver()
    webhook = create_webhook(api, receiver.url)
    CustomerFactory()
    with running_worker():
        receiver.wait_for(1)
        delivery = eventually(lambda: Delivery.objects.filter(status=Delivery.SUCCEEDED).first())
        response = retrying(lambda: api.post(f"/api/v1/webhooks/{webhook['id']}/deliveries/{delivery.pk}/redeliver/"))
        assert response.status_code == 202 and response.json()["status"] == "pending"
        receiver.wait_for(2)
        eventually(lambda: Delivery.objects.get(pk=delivery.pk).attempt_count == 2)
    first, again = receiver.requests
    assert first["body"] == again["body"]
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.SUCCEEDED


def test_a_slow_receiver_holds_back_no_other(api, webhook_settings):
    webhook_settings.OMNITRON_WEBHOOK_TIMEOUT = 5
    slow = Receiver(answer=lambda number: time.sleep(3) or 200)
    fast = Receiver()
    create_webhook(api, slow.url)
    create_webhook(api, fast.url)
    for index in range(3):
        CustomerFactory(email=f"c{index}@example.com")
    with running_worker():
        slow.wait_for(1)
        started = time.monotonic()
        fast.wait_for(3, timeout=2)
        assert time.monotonic() - started < 2
        slow.wait_for(3)


def test_a_worker_stopped_mid_delivery_records_it_first(api, webhook_settings):
    receiver = Receiver(answer=lambda number: time.sleep(0.5) or 200)
    create_webhook(api, receiver.url)
    CustomerFactory()
    with running_worker():
        receiver.wait_for(1)
    # Stopped while the receiver was still answering: the answer was awaited and recorded.
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.SUCCEEDED and delivery.lease_expires is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's workers poll: it has no notifications")
def test_on_postgresql_a_commit_wakes_the_worker_at_once(api, webhook_settings):
    webhook_settings.OMNITRON_WORKER_POLL_SECONDS = 30  # only the commit's notification can wake it in time
    receiver = Receiver()
    create_webhook(api, receiver.url)
    with running_worker():
        time.sleep(0.5)  # listening, then idle
        CustomerFactory()
        committed = time.monotonic()
        receiver.wait_for(1, timeout=5)
    assert receiver.requests[0]["time"] - committed < 1


def test_a_deleted_event_is_not_sent(api, webhook_settings):
    receiver = Receiver()
    create_webhook(api, receiver.url)
    CustomerFactory()
    from events.models import Event

    Event.objects.filter(created_date__lte=timezone.now() + datetime.timedelta(seconds=1)).delete()
    with running_worker():
        time.sleep(0.3)
    assert receiver.requests == []


def test_a_name_resolving_to_forbidden_addresses_only_is_not_connected_to(monkeypatch):
    import asyncio
    import socket

    import aiohttp

    from webhooks.worker import SafeResolver

    def found(*hosts):
        async def resolve(self, host, port=0, family=socket.AF_INET):
            return [{"hostname": host, "host": address, "port": port, "family": family, "proto": 0, "flags": 0}
                    for address in hosts]  # fmt: skip

        return resolve

    async def resolve(host):
        return await SafeResolver().resolve(host, 443)

    monkeypatch.setattr(aiohttp.ThreadedResolver, "resolve", found("169.254.169.254", "93.184.216.34"))
    assert [entry["host"] for entry in asyncio.run(resolve("hooks.example.com"))] == ["93.184.216.34"]
    monkeypatch.setattr(aiohttp.ThreadedResolver, "resolve", found("169.254.169.254", "::"))
    with pytest.raises(OSError, match="link-local, metadata or unspecified"):
        asyncio.run(resolve("rebound.example.com"))
