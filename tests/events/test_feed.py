"""The event feed (events): each change writes an event in its own transaction, and `GET /api/v1/events/` reads them
oldest first, gap-free across transactions that commit out of order, filtered by type and permission."""

import datetime
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer
from events.models import Event
from orders.models import Order
from tests.conftest import grant, token_client
from tests.factories import CustomerFactory, OrderFactory

# On PostgreSQL the feed shows a transaction's events once it has ended: each test's writes are committed.
pytestmark = pytest.mark.django_db(transaction=True)

NEW_CUSTOMER = {"email": "new@example.com", "channel_code": "c-1", "first_name": "Ada", "is_active": True}


def test_each_change_is_an_event_with_the_record_as_the_api_answers_it(api):
    created = api.post("/api/v1/customers/", NEW_CUSTOMER, format="json", HTTP_X_REQUEST_ID="r-1")
    pk = created.json()["pk"]
    patched = api.patch(f"/api/v1/customers/{pk}/", {"first_name": "Grace"}, format="json")
    api.delete(f"/api/v1/customers/{pk}/")
    events = api.get("/api/v1/events/?limit=100").json()
    assert [e["type"] for e in events] == ["customer.created", "customer.updated", "customer.deleted"]
    first, update, delete = events
    assert first["data"] == created.json() and first["version"] == created["ETag"]
    assert first["request_id"] == "r-1" and first["record_id"] == pk
    assert update["data"] == patched.json() and update["version"] == patched["ETag"]
    assert update["changes"] == {"first_name": {"old": "Ada", "new": "Grace"}}
    assert delete["data"]["first_name"] == "Grace" and delete["changes"]["first_name"]["new"] is None
    assert set(first) == {
        "cursor",
        "id",
        "type",
        "created_date",
        "record_id",
        "version",
        "request_id",
        "changes",
        "data",
    }


def test_an_orders_event_carries_its_current_refunded_amount(api):
    order = OrderFactory()
    stale = Order.objects.get(pk=order.pk)  # read before the refund
    assert api.post(f"/api/v1/orders/{order.pk}/refunds/", {"amount": "5.00"}, format="json").status_code == 201
    stale.status = "550"
    stale.save()
    (refund,) = api.get("/api/v1/events/?type=refund.created").json()
    assert refund["data"]["amount"] == "5.00"
    update = api.get("/api/v1/events/?type=order.updated").json()[-1]
    assert update["data"]["refunded_amount"] == "5.00"  # kept by the database, not in the saved instance


def test_a_refund_also_tells_its_orders_new_refunded_amount(api):
    order = OrderFactory(amount="100.00")
    response = api.post(
        f"/api/v1/orders/{order.pk}/refunds/", {"amount": "5.00"}, format="json", HTTP_X_REQUEST_ID="r-9"
    )
    assert response.status_code == 201
    refund, update = api.get("/api/v1/events/?type=refund.created,order.updated").json()
    assert (refund["type"], update["type"]) == ("refund.created", "order.updated")
    assert update["changes"] == {"refunded_amount": {"old": "0.00", "new": "5.00"}}
    current = api.get(f"/api/v1/orders/{order.pk}/")
    assert update["data"] == current.json() and update["version"] == current["ETag"]
    assert update["request_id"] == refund["request_id"] == "r-9"


def test_after_a_cursor_the_feed_goes_on_and_ends(api):
    for index in range(5):
        CustomerFactory(email=f"c{index}@example.com")
    first = api.get("/api/v1/events/?limit=2")
    assert [e["data"]["email"] for e in first.json()] == ["c0@example.com", "c1@example.com"]
    following = first["Link"].split(";")[0].strip("<>")
    second = api.get(following).json()
    assert [e["data"]["email"] for e in second] == ["c2@example.com", "c3@example.com"]
    last = api.get(f"/api/v1/events/?after={second[-1]['cursor']}&limit=2")
    assert [e["data"]["email"] for e in last.json()] == ["c4@example.com"] and "Link" not in last
    assert api.get(f"/api/v1/events/?after={last.json()[-1]['cursor']}").json() == []


def test_the_paginated_format_has_next_and_results(api, settings):
    settings.OMNITRON_LIST_FORMAT = "paginated"
    CustomerFactory()
    CustomerFactory()
    body = api.get("/api/v1/events/?limit=1").json()
    assert set(body) == {"next", "results"} and len(body["results"]) == 1 and "after=" in body["next"]


def test_bad_cursors_types_and_limits_are_400(api):
    CustomerFactory()
    for query, name in (("after=nope", "after"), ("after=1-999999", "after"), ("after=", "after"),
                        ("type=customer.exploded", "type"), ("limit=0", "limit")):  # fmt: skip
        response = api.get(f"/api/v1/events/?{query}")
        assert response.status_code == 400 and name in response.json(), query


def test_types_filter_and_follow_permissions(db, django_user_model, api):
    order = OrderFactory()
    CustomerFactory()
    assert {e["type"] for e in api.get("/api/v1/events/?type=order.created,customer.created").json()} == {
        "order.created",
        "customer.created",
    }
    assert [e["record_id"] for e in api.get("/api/v1/events/?type=order.created").json()] == [order.pk]
    clerk = django_user_model.objects.create_user("clerk")
    grant(clerk, "view_customer")
    client = token_client(clerk)
    assert {e["type"] for e in client.get("/api/v1/events/?limit=100").json()} == {"customer.created"}
    assert client.get("/api/v1/events/?type=order.created").status_code == 403
    assert token_client(django_user_model.objects.create_user("nobody")).get("/api/v1/events/").status_code == 403


def test_a_rolled_back_change_has_no_event(db):
    before = Event.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        CustomerFactory()
        raise RuntimeError
    assert Event.objects.count() == before


def test_purge_deletes_events_older_than_the_retention(db, settings):
    settings.OMNITRON_EVENT_RETENTION_DAYS = 30
    CustomerFactory()
    CustomerFactory()
    old = Event.objects.order_by("pk").first()
    Event.objects.filter(pk=old.pk).update(created_date=timezone.now() - datetime.timedelta(days=31))
    call_command("purge_events", stdout=open("/dev/null", "w"))
    assert not Event.objects.filter(pk=old.pk).exists() and Event.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent write transactions: PostgreSQL")
def test_an_event_committed_late_is_not_skipped(api):
    """The earlier transaction writes its event first and commits last; a reader that follows the cursor must still
    get it."""
    written, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                CustomerFactory(email="slow@example.com")  # its event gets the smaller id
                written.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(10)
    CustomerFactory(email="fast@example.com")  # begun later, committed first
    seen = api.get("/api/v1/events/").json()
    assert [e["data"]["email"] for e in seen] == []  # the fast one waits behind the running transaction
    release.set()
    thread.join(10)
    seen = api.get("/api/v1/events/").json()
    assert [e["data"]["email"] for e in seen] == ["slow@example.com", "fast@example.com"]
    cursor = seen[-1]["cursor"]
    assert api.get(f"/api/v1/events/?after={cursor}").json() == []
    assert Customer.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_reading_after_a_cursor_starts_the_index_scan_at_the_cursor(db):
    from events import services

    with connection.cursor() as cursor:  # an empty table is read whole; a busy one by its index
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        try:
            plan = Event.objects.filter(services.after(1042, 17)).order_by("txid", "pk")[:100].explain()
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    scan = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "txid >= 1042" in scan, plan
