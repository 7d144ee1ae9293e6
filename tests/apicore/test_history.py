"""Change history (apicore.history): every create, update and delete of a customer, channel, order and refund is
recorded with its time, user, request id and changed fields' old and new values, whichever way it is written; and
`GET .../{id}/history/` lists a record's entries."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction

from apicore import history
from customers.models import Customer
from orders.models import Order
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory
from tests.omnitron.test_admin import PostedForm, admin_client_  # noqa: F401

NEW_CUSTOMER = {"email": "new@example.com", "channel_code": "c-1", "first_name": "Ada", "is_active": True}


def entries(model, pk) -> list:
    return list(model.history.filter(id=pk).order_by("history_id"))


def test_api_writes_record_user_request_id_and_changed_fields(api, user):
    created = api.post("/api/v1/customers/", NEW_CUSTOMER, format="json", HTTP_X_REQUEST_ID="req-create-1")
    assert created.status_code == 201, created.json()
    assert created["X-Request-ID"] == "req-create-1"
    pk = created.json()["pk"]
    patched = api.patch(f"/api/v1/customers/{pk}/", {"email": "ada@example.com", "sms_allowed": True}, format="json")
    assert patched.status_code == 200
    assert api.delete(f"/api/v1/customers/{pk}/").status_code == 204

    create, update, delete = entries(Customer, pk)
    assert [e.operation for e in (create, update, delete)] == ["created", "updated", "deleted"]
    assert {e.history_user_id for e in (create, update, delete)} == {user.pk}
    assert create.request_id == "req-create-1"
    assert update.request_id == patched["X-Request-ID"] and len(update.request_id) == 32  # made for it
    assert create.changes["email"] == {"old": None, "new": "new@example.com"}
    assert create.changes["first_name"] == {"old": None, "new": "Ada"}
    assert "erp_code" not in create.changes and "erp_code" not in delete.changes  # null before and after
    assert update.changes == {
        "email": {"old": "new@example.com", "new": "ada@example.com"},
        "sms_allowed": {"old": False, "new": True},
    }
    assert delete.changes["email"] == {"old": "ada@example.com", "new": None}


def test_values_are_written_as_the_api_writes_them(api):
    customer = CustomerFactory(date_of_birth=datetime.date(1990, 5, 17), attributes={"size": {"eu": 42}})
    order = OrderFactory(customer=customer, amount=Decimal("10.00"))
    body = {"date_joined": "2024-02-29T23:59:59.999999Z", "attributes": {"size": {"eu": 43}}}
    assert api.patch(f"/api/v1/customers/{customer.pk}/", body, format="json").status_code == 200
    assert api.patch(f"/api/v1/orders/{order.pk}/", {"amount": "12.50"}, format="json").status_code == 200
    (*_, update) = entries(Customer, customer.pk)
    assert update.changes == {
        "date_joined": {"old": None, "new": "2024-02-29T23:59:59.999999Z"},
        "attributes": {"old": {"size": {"eu": 42}}, "new": {"size": {"eu": 43}}},
    }
    assert entries(Order, order.pk)[-1].changes == {"amount": {"old": "10.00", "new": "12.50"}}


def test_an_insane_request_id_is_replaced(api):
    response = api.get("/api/v1/customers/", HTTP_X_REQUEST_ID="has space")
    assert response["X-Request-ID"] != "has space" and len(response["X-Request-ID"]) == 32
    assert api.get("/api/v1/customers/", HTTP_X_REQUEST_ID="x" * 201)["X-Request-ID"] != "x" * 201
    missing = api.get("/api/v1/customers/999999/", HTTP_X_REQUEST_ID="trace-7")
    assert missing.status_code == 404 and missing["X-Request-ID"] == "trace-7"


def test_an_update_that_changes_nothing_records_nothing(api):
    customer = CustomerFactory(first_name="Same")
    before = len(entries(Customer, customer.pk))
    assert api.patch(f"/api/v1/customers/{customer.pk}/", {"first_name": "Same"}, format="json").status_code == 200
    assert len(entries(Customer, customer.pk)) == before


def test_failed_and_rolled_back_writes_record_nothing(api):
    customer = CustomerFactory()
    before = len(entries(Customer, customer.pk))
    refused = api.patch(f"/api/v1/customers/{customer.pk}/", {"email": "not an address"}, format="json")
    assert refused.status_code == 400
    stale = api.patch(f"/api/v1/customers/{customer.pk}/", {"first_name": "X"}, format="json", HTTP_IF_MATCH='"no"')
    assert stale.status_code == 412
    with pytest.raises(RuntimeError), transaction.atomic():
        customer.first_name = "Rolled back"
        customer.save()
        raise RuntimeError
    assert len(entries(Customer, customer.pk)) == before


def test_refunds_channels_and_orders_are_recorded(api):
    order = OrderFactory()
    response = api.post(f"/api/v1/orders/{order.pk}/refunds/", {"amount": "5.00", "reason": "late"}, format="json")
    assert response.status_code == 201, response.json()
    refund = order.refunds.get()
    assert [e.operation for e in refund.history.all()] == ["created"]
    assert refund.history.get().changes["amount"] == {"old": None, "new": "5.00"}
    channel = order.channel
    assert api.patch(f"/api/v1/channels/{channel.pk}/", {"name": "Renamed"}, format="json").status_code == 200
    assert channel.history.latest().changes == {"name": {"old": channel.name, "new": "Renamed"}}


def test_admin_changes_are_recorded_with_the_admin_user(admin_client_):  # noqa: F811
    customer = CustomerFactory(first_name="Before")
    page = f"/admin/customers/customer/{customer.pk}/change/"
    data = PostedForm(admin_client_.get(page).content.decode()).data
    data["first_name"] = "After"
    response = admin_client_.post(page, data)
    assert response.status_code == 302
    entry = customer.history.latest()
    assert entry.changes == {"first_name": {"old": "Before", "new": "After"}}
    assert entry.history_user.username == "boss" and entry.request_id


def test_management_command_changes_are_recorded_without_user_or_request(db):
    customer = CustomerFactory(first_name="Before")
    call_command("shell", command=f"from customers.models import Customer; c = Customer.objects.get(pk={customer.pk});"
                 " c.first_name = 'Shell'; c.save()")  # fmt: skip
    entry = customer.history.latest()
    assert entry.changes == {"first_name": {"old": "Before", "new": "Shell"}}
    assert entry.history_user is None and entry.request_id is None


def test_the_old_values_are_the_rows_not_the_instances(db):
    # A write by someone else (raw SQL here) between this instance's read and its save: the entry says what the
    # row held just before the save.
    customer = CustomerFactory(first_name="Read")
    Customer.objects.filter(pk=customer.pk).update(first_name="Meanwhile")
    customer.first_name = "Saved"
    customer.save()
    assert customer.history.latest().changes == {"first_name": {"old": "Meanwhile", "new": "Saved"}}


# --- GET .../{id}/history/ -----------------------------------------------------------------------------------------


@pytest.fixture
def changed(api):
    customer = api.post("/api/v1/customers/", NEW_CUSTOMER, format="json").json()
    for name in ("B", "C"):
        api.patch(f"/api/v1/customers/{customer['pk']}/", {"first_name": name}, format="json")
    api.patch(f"/api/v1/customers/{customer['pk']}/", {"email": "z@example.com"}, format="json")
    return customer["pk"]


def test_history_lists_newest_first_with_the_list_rules(api, changed, settings):
    response = api.get(f"/api/v1/customers/{changed}/history/")
    assert response.status_code == 200
    body = response.json()
    assert [entry["operation"] for entry in body] == ["updated", "updated", "updated", "created"]
    assert body[0]["changes"] == {"email": {"old": "new@example.com", "new": "z@example.com"}}
    assert body[1]["changes"] == {"first_name": {"old": "B", "new": "C"}}
    assert set(body[0]) == {"id", "created_date", "operation", "user", "request_id", "changes"}
    assert response["X-Total-Count"] == "4"
    second = api.get(f"/api/v1/customers/{changed}/history/?limit=2&page=2").json()
    assert [entry["id"] for entry in second] == [entry["id"] for entry in body[2:]]
    settings.OMNITRON_LIST_FORMAT = "paginated"
    paginated = api.get(f"/api/v1/customers/{changed}/history/?limit=3").json()
    assert paginated["count"] == 4 and len(paginated["results"]) == 3 and paginated["next"]


def test_history_filters(api, changed, user, django_user_model):
    url = f"/api/v1/customers/{changed}/history/"
    assert [e["changes"]["first_name"]["new"] for e in api.get(f"{url}?field=first_name").json()] == ["C", "B", "Ada"]
    assert len(api.get(f"{url}?user={user.pk}").json()) == 4
    assert api.get(f"{url}?user={user.pk + 1000}").json() == []
    assert len(api.get(f"{url}?created_date__gte=2000-01-01T00:00:00Z").json()) == 4
    assert api.get(f"{url}?created_date__lte=2000-01-01T00:00:00Z").json() == []
    refused = api.get(f"{url}?field=no_such_field")
    assert refused.status_code == 400 and "field" in refused.json()
    assert api.get(f"{url}?created_date__gte=yesterday").status_code == 400
    assert api.get(f"{url}?user=-1").status_code == 400 and api.get(f"{url}?user=x").status_code == 400


def test_a_deleted_records_history_stays_readable(api, changed):
    assert api.delete(f"/api/v1/customers/{changed}/").status_code == 204
    assert api.get(f"/api/v1/customers/{changed}/").status_code == 404
    body = api.get(f"/api/v1/customers/{changed}/history/").json()
    assert body[0]["operation"] == "deleted" and len(body) == 5


def test_history_needs_the_view_permission_and_a_record(api_without_permissions, api, changed):
    assert api_without_permissions.get(f"/api/v1/customers/{changed}/history/").status_code == 403
    assert api.get("/api/v1/customers/987654/history/").status_code == 404
    # A record written before history was kept: no entries yet, an empty history.
    silent = CustomerFactory()
    silent.history.all().delete()
    assert api.get(f"/api/v1/customers/{silent.pk}/history/").json() == []


def test_history_of_channels_orders_refunds_and_under_a_channel(api):
    channel = ChannelFactory()
    customer = CustomerFactory(channel=channel)
    refund = RefundFactory(order=OrderFactory(customer=customer, channel=channel))
    for url in (
        f"/api/v1/channels/{channel.pk}/history/",
        f"/api/v1/orders/{refund.order_id}/history/",
        f"/api/v1/channel/{channel.pk}/customers/{customer.pk}/history/",
    ):
        response = api.get(url)
        assert response.status_code == 200, url
        assert [entry["operation"] for entry in response.json()] == ["created"], url
    assert [entry.operation for entry in refund.history.all()] == ["created"]  # no route of its own (no record GET)
    other = ChannelFactory()
    assert api.get(f"/api/v1/channel/{other.pk}/customers/{customer.pk}/history/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_write_whose_history_cannot_be_stored_is_not_stored_either():
    customer = CustomerFactory(first_name="Kept")

    def failing(entry):
        raise RuntimeError("the history table is full")

    history.WRITTEN_WITH.append(failing)
    try:
        customer.first_name = "Lost"
        with pytest.raises(RuntimeError):
            customer.save()
        with pytest.raises(RuntimeError):
            customer.delete()
    finally:
        history.WRITTEN_WITH.remove(failing)
    assert Customer.objects.get(pk=customer.pk).first_name == "Kept"
