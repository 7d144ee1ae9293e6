"""Erasing a customer's personal data (GDPR art. 17) while keeping the books.

The record stays, with its orders and refunds and their amounts; what identifies the person is replaced with an
erased value, on the record and in every copy the service keeps: its history entries (each snapshot's columns and
each entry's `changes`), its events (`data`, `changes`, and the `version` computed from the new data), the admin's log
(which names a record by its email) and the stored answers to `Idempotency-Key` POSTs that created it. Orders and
refunds hold no copy: an order names its customer by id, and their history likewise.
"""

import json

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apicore import conditional, history, lines
from apicore.db import insert_rows
from apicore.history import json_value, stored
from apicore.models import IdempotencyKey
from apicore.renderers import JSONRenderer
from customers.models import Customer, erased_email
from customers.serializers import CustomerSerializer
from events import services as events
from events.models import Event

__all__ = ["WITHDRAWN", "erase", "erased_values"]

# Consent to be contacted is withdrawn with the addresses. The flags identify no one, so their history stays: what
# the customer had allowed, and when, is the controller's record of consent.
WITHDRAWN = {"email_allowed": False, "sms_allowed": False, "call_allowed": False}


def erased_values(pk: int) -> dict:
    """The personal fields and what an erase leaves in them (JSON values: the model's, the API's and the history's).

    channel, channel_code, is_active, user_type and date_joined stay: they identify no one without the rest, and
    channel_code is what a channel's sync finds the record by, so that sending the person again meets the
    restore_erased rule (customers.serializers) instead of creating a second record.
    """
    return {
        "email": erased_email(pk),
        "first_name": "",
        "last_name": "",
        "phone_number": None,
        "erp_code": None,
        "date_of_birth": None,
        "gender": None,
        "attributes": {},
        "attribute_kwargs": {},
        "localized_attributes": {},
        "localized_attribute_kwargs": {},
        "extra_field": {},
    }


def erase(customer: Customer, *, user=None, request_id: str | None = None) -> Customer:
    """Erases `customer`'s personal data everywhere it is kept, in one transaction with its row locked, and answers
    the record as stored now.

    The erase is one history entry (by `user`, in `request_id`) and one `customer.erased` event, whose `changes` name
    the fields it changed with the erased value for old and new. An erase that finds nothing left to erase (the
    customer is erased and no copy holds personal data) writes nothing.
    """
    with transaction.atomic():
        row = Customer.objects.select_for_update().get(pk=customer.pk)
        erased = erased_values(row.pk)
        scrubbed = _scrub_history(row.pk, erased) + _scrub_events(row.pk, erased) + _scrub_copies(row.pk, erased)
        changes = {}
        for name, value in {**erased, **WITHDRAWN}.items():
            old = json_value(getattr(row, name))
            if old != value:
                changes[name] = {"old": erased.get(name, old), "new": value}
        if row.erased_date is not None and not changes and not scrubbed:
            return row
        now = timezone.now()
        # An update, not a save: a save's history entry and `customer.updated` event would carry the old values.
        Customer.objects.filter(pk=row.pk).update(
            **erased, **WITHDRAWN, erased_date=now, modified_date=now, version=F("version") + 1
        )
        _add_history_entry(stored(row), changes, user, request_id, now)
        events.record(row, "erased", changes, request_id, now)
        lines.store(row)  # the export's copy of the record, erased with it
        return stored(row)


def _scrubbed_changes(changes: dict, erased: dict) -> dict:
    return {
        name: {"old": erased[name], "new": erased[name]} if name in erased else change
        for name, change in changes.items()
    }


def _scrub_history(pk: int, erased: dict) -> int:
    """Every history entry of the customer with its personal columns and `changes` erased; how many changed."""
    entries = []
    for entry in Customer.history.filter(id=pk):
        changes = _scrubbed_changes(entry.changes, erased)
        if changes != entry.changes or any(getattr(entry, name) != value for name, value in erased.items()):
            for name, value in erased.items():
                setattr(entry, name, value)
            entry.changes = changes
            entries.append(entry)
    Customer.history.model.objects.bulk_update(entries, [*erased, "changes"])
    return len(entries)


def _scrub_events(pk: int, erased: dict) -> int:
    """Every stored event of the customer with its personal data erased; how many changed."""
    fields = CustomerSerializer.Meta.fields
    events_ = []
    for event in Event.objects.filter(type__startswith="customer.", record_id=pk):
        data = {**event.data, **{name: value for name, value in erased.items() if name in event.data}}
        changes = _scrubbed_changes(event.changes, erased)
        if data != event.data or changes != event.changes:
            # In the serializer's order (PostgreSQL's jsonb keeps its own): the version is the ETag a GET of this
            # representation would answer, as when the event was recorded.
            ordered = {name: data[name] for name in fields if name in data} | data
            event.data, event.changes, event.version = data, changes, conditional.etag(ordered)
            events_.append(event)
    Event.objects.bulk_update(events_, ["data", "changes", "version"])
    return len(events_)


def _scrub_copies(pk: int, erased: dict) -> int:
    """The other copies: the admin's log names a record by its str(), the email; the stored answer to a keyed POST
    that created the customer holds the record as it was then (for 24 hours). How many changed."""
    content_type = ContentType.objects.get_for_model(Customer)
    count = (
        LogEntry.objects.filter(content_type=content_type, object_id=str(pk))
        .exclude(object_repr=erased["email"])
        .update(object_repr=erased["email"])
    )
    # apicore.renderers writes compact JSON in the serializer's order: a customer's answer starts with these.
    for key in IdempotencyKey.objects.filter(body__startswith=f'{{"pk":{pk},"email":'):
        data = json.loads(key.body)
        scrubbed = {**data, **{name: value for name, value in erased.items() if name in data}}
        if scrubbed != data:
            key.body = JSONRenderer().render(scrubbed).decode()
            key.save(update_fields=["body"])
            count += 1
    return count


def _add_history_entry(row: Customer, changes: dict, user, request_id, date) -> None:
    """The erase in the customer's history: who, when, in which request, which fields; no personal value. Written
    directly (apicore.history.entry_row): a save would record the old values and publish `customer.updated`."""
    insert_rows([history.entry_row(row, "~", changes, user, request_id, date)])
