"""`omnitron worker` processes beside `omnitron serve`: two at once send each event once; one killed with SIGKILL
mid-delivery loses nothing (its claim lapses and another worker sends the delivery); `omnitron serve --with-worker`
(`make serve`) delivers on its own."""

import contextlib
import json
import signal
import subprocess
import time

import pytest

from tests.contract.conftest import OMNITRON, _run, start_server, throwaway_database
from tests.webhooks.conftest import Receiver, eventually, verify

# Short enough for a test: a killed worker's claims lapse after 2 s.
ENV = {
    "OMNITRON_WEBHOOK_HTTP_HOSTS": "127.0.0.1",
    "OMNITRON_WEBHOOK_TIMEOUT": "1",
    "OMNITRON_WEBHOOK_LEASE_SECONDS": "2",
    "OMNITRON_WEBHOOK_RETRY_SECONDS": "0.2",
    "OMNITRON_WORKER_POLL_SECONDS": "0.1",
}
GRANT = """
from django.contrib.auth.models import Permission, User
User.objects.get(username="contract").user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
"""
CUSTOMERS = """
from customers.models import Customer
for n in range({count}):
    Customer.objects.create(email=f"bulk-{{n}}@example.com", channel_code=f"bulk-{{n}}", is_active=True)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with (
        throwaway_database(tmp_path_factory) as url,
        start_server(url, tmp_path_factory.mktemp("webhook-server"), extra_env=ENV) as server,
    ):
        _run(["shell", "-c", GRANT], server.env, server.log.parent)
        yield server


def api(server, method: str, path: str, body: dict | None = None) -> dict:
    connection = server.connection()
    headers = {"Authorization": f"Token {server.token}", "Content-Type": "application/json"}
    connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"null")
    connection.close()
    assert response.status < 300, answer
    return answer


@contextlib.contextmanager
def workers(server, count: int):
    log = server.log.parent / "worker.log"
    with log.open("ab") as out:
        processes = [
            subprocess.Popen([*OMNITRON, "worker"], env=server.env, cwd=server.log.parent, stdout=out, stderr=out)
            for _ in range(count)
        ]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


def test_two_workers_send_each_event_once(server):
    receiver = Receiver()
    webhook = api(server, "POST", "/api/v1/webhooks/", {"url": receiver.url, "events": ["customer.created"]})
    with workers(server, 2):
        _run(["shell", "-c", CUSTOMERS.format(count=300)], server.env, server.log.parent)
        receiver.wait_for(300, timeout=60)
        time.sleep(1)  # any duplicate would arrive meanwhile
    ids = [request["headers"]["Omnitron-Event-Id"] for request in receiver.requests]
    assert len(ids) == len(set(ids)) == 300
    assert all(verify(webhook["secret"], r["headers"]["Omnitron-Signature"], r["body"]) for r in receiver.requests)
    succeeded = api(server, "GET", f"/api/v1/webhooks/{webhook['id']}/deliveries/?status=succeeded&limit=1")
    assert succeeded and succeeded[0]["attempt_count"] == 1
    api(server, "DELETE", f"/api/v1/webhooks/{webhook['id']}/")


def test_a_worker_killed_mid_delivery_loses_nothing(server):
    # The first POST gets no answer before the worker is killed; the next is answered at once.
    receiver = Receiver(answer=lambda number: time.sleep(5) or 200 if number == 1 else 200)
    webhook = api(server, "POST", "/api/v1/webhooks/", {"url": receiver.url, "events": ["customer.created"]})
    with workers(server, 1) as (doomed,):
        created = api(
            server, "POST", "/api/v1/customers/", {"email": "k@example.com", "channel_code": "k", "is_active": True}
        )
        receiver.wait_for(1)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    killed = time.monotonic()
    with workers(server, 1):
        receiver.wait_for(2, timeout=20)
        deliveries = eventually(
            lambda: api(server, "GET", f"/api/v1/webhooks/{webhook['id']}/deliveries/?status=succeeded")
        )
    first, second = receiver.events()
    assert first == second and first["data"]["pk"] == created["pk"]
    assert receiver.requests[1]["time"] - killed < 5  # the claim lapsed (2 s), then another worker sent it
    (delivery,) = deliveries
    # The killed worker's attempt left no record; the one that succeeded did.
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [200]


def test_serve_with_worker_delivers_without_a_worker_of_its_own(tmp_path_factory):
    receiver = Receiver()
    with (
        throwaway_database(tmp_path_factory) as url,
        start_server(url, tmp_path_factory.mktemp("serve-worker"), extra_env=ENV, options=("--with-worker",)) as server,
    ):
        _run(["shell", "-c", GRANT], server.env, server.log.parent)
        webhook = api(server, "POST", "/api/v1/webhooks/", {"url": receiver.url, "events": ["customer.created"]})
        api(server, "POST", "/api/v1/customers/", {"email": "w@example.com", "channel_code": "w", "is_active": True})
        (event,) = receiver.wait_for(1, timeout=20)
        assert verify(
            webhook["secret"], receiver.requests[0]["headers"]["Omnitron-Signature"], receiver.requests[0]["body"]
        )
    assert event["type"] == "customer.created" and event["data"]["email"] == "w@example.com"
