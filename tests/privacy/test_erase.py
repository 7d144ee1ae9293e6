"""POST /api/v1/customers/{id}/erase/: the customer's personal data erased everywhere it is kept, the books kept."""

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from apicore import conditional
from apicore.exceptions import Conflict
from customers.models import Customer, CustomerLine
from customers.serializers import CustomerSerializer
from events.models import Event
from events.serializers import EventSerializer
from orders.models import Order, Refund
from privacy.services import WITHDRAWN, erased_values
from tests.conftest import grant, token_client
from tests.factories import ChannelFactory, CustomerFactory

pytestmark = pytest.mark.django_db

PERSON = {
    "email": "ada.lovelace@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone_number": "+44 20 7946 0000",
    "erp_code": "ERP-LOVELACE",
    "date_of_birth": "1815-12-10",
    "gender": "female",
    "attributes": {"size": "m", "nickname": "Enchantress"},
    "attribute_kwargs": {"k": "kw-secret"},
    "localized_attributes": {"en": {"title": "Countess"}},
    "localized_attribute_kwargs": {"en": {"k": "lkw-secret"}},
    "extra_field": {"loyalty": "gold-lovelace"},
}
# Every personal value the customer ever had (PERSON, then a PATCH): none may be left anywhere after the erase.
PERSONAL_VALUES = [
    "ada.lovelace@example.com",
    "ada@example.com",
    "Ada",
    "Lovelace",
    "Byron",
    "+44 20 7946 0000",  # whole: its digits alone could be part of a time or a hash
    "ERP-LOVELACE",
    "1815-12-10",
    "female",
    "Enchantress",
    "kw-secret",
    "Countess",
    "lkw-secret",
    "gold-lovelace",
]


def leaked(document) -> list[str]:
    text = json.dumps(document, default=str, ensure_ascii=False)
    return [value for value in PERSONAL_VALUES if value in text]


@pytest.fixture
def channel(db):
    return ChannelFactory()


@pytest.fixture
def person(api, channel):
    """A customer with every personal field set, created with an Idempotency-Key, changed once, with an order and a
    refund: the record, its history, its events and a stored answer all hold personal data."""
    body = {
        **PERSON,
        "channel": channel.pk,
        "channel_code": "web-ada",
        "is_active": True,
        "user_type": "registered",
        "date_joined": "2020-01-02T03:04:05Z",
        "email_allowed": True,
        "sms_allowed": True,
    }
    created = api.post("/api/v1/customers/", body, format="json", HTTP_IDEMPOTENCY_KEY="create-ada")
    assert created.status_code == 201, created.json()
    pk = created.json()["pk"]
    api.patch(f"/api/v1/customers/{pk}/", {"email": "ada@example.com", "last_name": "Byron"}, format="json")
    order = api.post(
        "/api/v1/orders/",
        {
            "number": "W-1",
            "channel": channel.pk,
            "customer": pk,
            "date_placed": "2024-05-01T10:00:00Z",
            "currency": "TRY",
            "amount": "250.00",
            "discount_amount": "20.00",
        },
        format="json",
    ).json()
    assert api.post(f"/api/v1/orders/{order['pk']}/refunds/", {"amount": "50.00"}, format="json").status_code == 201
    return {"pk": pk, "body": body, "order": order}


def erase(client, pk, **extra):
    return client.post(f"/api/v1/customers/{pk}/erase/", **extra)


def test_the_answer_is_the_erased_record_as_a_get_answers_it(api, person):
    pk = person["pk"]
    response = erase(api, pk)
    assert response.status_code == 200
    read = api.get(f"/api/v1/customers/{pk}/")
    assert response.json() == read.json()
    assert response["ETag"] == read["ETag"]
    record = response.json()
    assert {name: record[name] for name in PERSON} == erased_values(pk)
    assert record["email"] == f"erased-{pk}@invalid.example"
    assert {name: record[name] for name in WITHDRAWN} == WITHDRAWN
    # What identifies no one stays.
    kept = ("channel", "channel_code", "is_active", "user_type", "date_joined")
    assert {name: record[name] for name in kept} == {name: person["body"][name] for name in kept}
    assert "erased_date" not in record
    assert Customer.objects.get(pk=pk).erased_date is not None


def test_no_history_entry_holds_a_personal_value(api, person, user):
    pk = person["pk"]
    erase(api, pk, HTTP_X_REQUEST_ID="dsar-42")
    erased = erased_values(pk)
    entries = list(Customer.history.filter(id=pk).order_by("-history_date", "-history_id"))
    assert [entry.history_type for entry in entries] == ["~", "~", "+"]
    for entry in entries:
        assert {name: getattr(entry, name) for name in erased} == erased
        for name, change in entry.changes.items():
            if name in erased:
                assert change == {"old": erased[name], "new": erased[name]}
        assert leaked(entry.changes) == []
    # The erase itself: who, in which request, the fields it changed; consent's old values are no personal data.
    latest = entries[0]
    assert (latest.history_user_id, latest.request_id) == (user.pk, "dsar-42")
    assert set(latest.changes) == {*erased, "email_allowed", "sms_allowed"}  # call_allowed was false already
    assert latest.changes["email_allowed"] == {"old": True, "new": False}
    history = api.get(f"/api/v1/customers/{pk}/history/").json()
    assert [entry["operation"] for entry in history] == ["updated", "updated", "created"]
    assert leaked(history) == []
    assert api.get(f"/api/v1/customers/{pk}/history/?field=email").json()[0]["request_id"] == "dsar-42"


def test_no_event_holds_a_personal_value_and_versions_follow_the_data(api, person):
    pk = person["pk"]
    erase(api, pk)
    events = Event.objects.filter(type__startswith="customer.", record_id=pk).order_by("pk")
    assert [event.type for event in events] == ["customer.created", "customer.updated", "customer.erased"]
    fields = CustomerSerializer.Meta.fields
    for event in events:
        assert leaked(event.data) == [] and leaked(event.changes) == []
        assert {name: event.data[name] for name in PERSON} == erased_values(pk)
        assert event.version == conditional.etag({name: event.data[name] for name in fields})


def test_the_erased_event_is_recorded_once_with_the_erased_record(api, person):
    pk = person["pk"]
    answer = erase(api, pk, HTTP_X_REQUEST_ID="dsar-44")
    erase(api, pk)
    # Read from the table: on PostgreSQL the feed shows a transaction's events once it has ended, not in this test's.
    (event,) = EventSerializer(Event.objects.filter(type="customer.erased"), many=True).data
    assert (event["record_id"], event["request_id"]) == (pk, "dsar-44")
    assert event["data"] == answer.json()
    assert event["version"] == answer["ETag"]
    assert "email" in event["changes"] and leaked(event["changes"]) == []
    latest = Customer.history.filter(id=pk).latest()
    assert event["changes"] == latest.changes


def test_the_personal_data_document_holds_none_and_the_books_are_kept(api, person):
    pk = person["pk"]
    before = api.get(f"/api/v1/customers/{pk}/personal-data/").json()
    detailed = api.get(f"/api/v1/customers/{pk}/detailed/").json()
    order = api.get(f"/api/v1/orders/{person['order']['pk']}/")
    counts = (Order.history.count(), Refund.history.count())
    assert erase(api, pk).status_code == 200
    after = api.get(f"/api/v1/customers/{pk}/personal-data/").json()
    assert leaked(after) == []
    assert after["customer"] == api.get(f"/api/v1/customers/{pk}/").json()
    assert (after["orders"], after["refunds"], after["history"]["orders"], after["history"]["refunds"]) == (
        before["orders"],
        before["refunds"],
        before["history"]["orders"],
        before["history"]["refunds"],
    )
    assert detailed["orders_info"]["total_order_amount"] == 250.0
    assert api.get(f"/api/v1/customers/{pk}/detailed/").json()["orders_info"] == detailed["orders_info"]
    again = api.get(f"/api/v1/orders/{person['order']['pk']}/")
    assert (again.json(), again["ETag"]) == (order.json(), order["ETag"])
    assert (Order.history.count(), Refund.history.count()) == counts


def test_erasing_an_erased_customer_writes_nothing(api, person):
    pk = person["pk"]
    first = erase(api, pk)
    counts = (Event.objects.count(), Customer.history.count())
    customer = Customer.objects.get(pk=pk)
    second = erase(api, pk)
    assert second.status_code == 200
    assert (second.json(), second["ETag"]) == (first.json(), first["ETag"])
    assert (Event.objects.count(), Customer.history.count()) == counts
    again = Customer.objects.get(pk=pk)
    assert (again.version, again.erased_date, again.modified_date) == (
        customer.version,
        customer.erased_date,
        customer.modified_date,
    )


def test_personal_data_given_after_an_erase_is_erased_by_the_next(api, person):
    pk = person["pk"]
    erase(api, pk)
    assert api.patch(f"/api/v1/customers/{pk}/", {"first_name": "Ada"}, format="json").status_code == 200
    api.patch(f"/api/v1/customers/{pk}/", {"first_name": ""}, format="json")  # the record is clean; its history not
    assert erase(api, pk).status_code == 200
    assert leaked(api.get(f"/api/v1/customers/{pk}/personal-data/").json()) == []
    assert Event.objects.filter(type="customer.erased", record_id=pk).count() == 2


def test_the_copies_outside_history_and_events_are_erased(api, person, user):
    """The admin's log names the record by its email; a keyed POST's stored answer holds the record as created."""
    pk = person["pk"]
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(pk),
        object_repr="ada@example.com",
        action_flag=CHANGE,
        change_message="[]",
    )
    erase(api, pk)
    assert LogEntry.objects.get(object_id=str(pk)).object_repr == f"erased-{pk}@invalid.example"
    replay = api.post("/api/v1/customers/", person["body"], format="json", HTTP_IDEMPOTENCY_KEY="create-ada")
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    assert replay.json()["pk"] == pk and leaked(replay.json()) == []


def test_the_stored_line_is_the_erased_record(api, person):
    """The export's stored line of the customer (apicore.lines) held the person; after the erase it is the erased
    record, current, and the export answers it."""
    pk = person["pk"]
    assert leaked(CustomerLine.objects.get(pk=pk).text) != []
    erased = erase(api, pk).json()
    line = CustomerLine.objects.get(pk=pk)
    assert leaked(line.text) == [] and json.loads(line.text) == erased
    assert line.version == Customer.objects.get(pk=pk).version
    exported = b"".join(api.get("/api/v1/customers/export/").streaming_content).decode()
    assert leaked(exported) == [] and line.text in exported


def test_another_customers_data_is_untouched(api, person):
    other = CustomerFactory(email="grace@example.com", first_name="Grace")
    before = api.get(f"/api/v1/customers/{other.pk}/personal-data/").json()
    erase(api, person["pk"])
    assert api.get(f"/api/v1/customers/{other.pk}/personal-data/").json() == before


def test_it_needs_the_erase_permission_which_delete_does_not_imply(user_without_permissions):
    customer = CustomerFactory()
    grant(user_without_permissions, "delete_customer", "view_customer")
    assert erase(token_client(user_without_permissions), customer.pk).status_code == 403
    assert Customer.objects.get(pk=customer.pk).erased_date is None
    grant(user_without_permissions, "erase_customer")
    assert erase(token_client(user_without_permissions), customer.pk).status_code == 200


def test_without_a_token_401_and_an_unknown_customer_404(anon, api):
    customer = CustomerFactory()
    assert erase(anon, customer.pk).status_code == 401
    assert erase(api, 999999).status_code == 404
    assert api.get(f"/api/v1/customers/{customer.pk}/erase/").status_code == 405


# --- edits afterwards: restore_erased ----------------------------------------------------------------------------


@pytest.fixture
def erased(api, person):
    return erase(api, person["pk"]).json()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_erased_customer_gets_a_real_email_back_only_when_asked(api, erased, method):
    pk = erased["pk"]
    body = {**erased, "email": "ada@example.com"} if method == "put" else {"email": "ada@example.com"}
    send = getattr(api, method)
    refused = send(f"/api/v1/customers/{pk}/", body, format="json")
    assert refused.status_code == 400
    assert (list(refused.json()), refused.json()["code"]) == (["email", "code"], "erased")
    assert "restore_erased=true" in refused.json()["email"][0]
    assert send(f"/api/v1/customers/{pk}/?restore_erased=false", body, format="json").status_code == 400
    assert Customer.objects.get(pk=pk).email == erased["email"]
    restored = send(f"/api/v1/customers/{pk}/?restore_erased=true", body, format="json")
    assert restored.status_code == 200
    assert restored.json()["email"] == "ada@example.com"
    assert Customer.objects.get(pk=pk).erased_date is None
    # No longer erased: later edits need no flag.
    assert api.patch(f"/api/v1/customers/{pk}/", {"email": "a@example.com"}, format="json").status_code == 200


def test_an_erased_customers_other_fields_are_editable(api, erased):
    pk = erased["pk"]
    patched = api.patch(f"/api/v1/customers/{pk}/", {"is_active": False, "first_name": "A."}, format="json")
    assert patched.status_code == 200
    assert api.put(f"/api/v1/customers/{pk}/", {**erased, "extra_field": {"tier": 1}}, format="json").status_code == 200
    assert Customer.objects.get(pk=pk).erased_date is not None


def test_the_rule_holds_under_a_channel_too(api, erased):
    path = f"/api/v1/channel/{erased['channel']}/customers/{erased['pk']}/"
    assert api.patch(path, {"email": "ada@example.com"}, format="json").status_code == 400
    assert api.patch(f"{path}?restore_erased=true", {"email": "ada@example.com"}, format="json").status_code == 200


def test_restore_erased_is_true_or_false(api, erased):
    response = api.patch(f"/api/v1/customers/{erased['pk']}/?restore_erased=maybe", {"is_active": True}, format="json")
    assert response.status_code == 400
    assert "restore_erased" in response.json()
    assert api.get(f"/api/v1/customers/{erased['pk']}/?restore_erased=maybe").status_code == 200  # reads ignore it


def test_a_write_read_before_an_erase_cannot_undo_it(api, person):
    """A PATCH that read the customer before an erase committed would write the old personal data back."""
    stale = Customer.objects.get(pk=person["pk"])
    erase(api, person["pk"])
    serializer = CustomerSerializer(stale, data={"is_active": False}, partial=True)
    assert serializer.is_valid()
    with pytest.raises(Conflict), transaction.atomic():
        serializer.save()
    assert leaked(api.get(f"/api/v1/customers/{person['pk']}/personal-data/").json()) == []


def test_webhooks_may_subscribe_to_erasures(user, api):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
    response = api.post(
        "/api/v1/webhooks/", {"url": "https://example.com/hook", "events": ["customer.erased"]}, format="json"
    )
    assert response.status_code == 201, response.json()


def test_the_schema_documents_it(anon):
    operation = anon.get("/api/schema/").json()["paths"]["/api/v1/customers/{id}/erase/"]
    assert set(operation) == {"post"}
    assert "requestBody" not in operation["post"]
    ok = operation["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Customer"}
    assert {"401", "403", "404"} <= set(operation["post"]["responses"])
