"""Change history: who changed what, when, in which request, with each changed field's old and new value.

Every create, update and delete of a tracked model that goes through the ORM (its post_save and post_delete
signals: the API, the admin, management commands) writes an entry here: a snapshot of the record in
django-simple-history's historical table (which also gives the admin's History pages and the history querysets),
with the time, the user of the request (simple-history's HistoryRequestMiddleware), the request's id
(apicore.middleware) and `changes`: the fields the write changed, `{"email": {"old": "a@example.com", "new":
"b@example.com"}}`. The entry and the rows written with it (WRITTEN_WITH: the change's event) are one INSERT
statement (apicore.db.insert_rows). The values before an update are read in the write's own transaction, locked
(`SELECT ... FOR UPDATE` on PostgreSQL), so they are what the row held just before, whoever wrote it last (the API,
the admin, raw SQL): by the save itself, or by the caller that read the record so (read_for_update: the API's
writes). A tracked model's save and delete run in one transaction with their history: a write that fails or is
rolled back leaves none.

Tracked: a model's editable fields (not its id, version or timestamps, which every write moves, nor columns the
database keeps itself, such as an order's refunded amount). An update that changes none of them records nothing.
Not seen: `QuerySet.update()`, `bulk_create()` and raw SQL, which send no signals; the service's own writes do not
use them on tracked fields, or record their entries themselves (record_created; docs/decisions.md).
"""

import contextlib
import datetime
import decimal
import functools
import types
import uuid
from typing import NamedTuple

from django.db import models, transaction
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.utils import timezone
from rest_framework.fields import DateTimeField
from simple_history.models import HistoricalRecords

from apicore.db import insert_rows, insert_values
from apicore.models import JSONField

__all__ = [
    "WRITTEN_WITH",
    "Entry",
    "HistoryEntry",
    "TrackedModel",
    "acting",
    "entry_row",
    "read_for_update",
    "record_created",
    "stored",
    "track_history",
]

OPERATIONS = {"+": "created", "~": "updated", "-": "deleted"}


class HistoryEntry(models.Model):
    """What every historical model adds to simple-history's snapshot (its `bases`)."""

    request_id = models.CharField(max_length=200, null=True, blank=True)
    changes = JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    @property
    def operation(self) -> str:
        return OPERATIONS[self.history_type]


def track_history(excluded_fields: list[str] | None = None) -> HistoricalRecords:
    """The `history` of a tracked model: its snapshots, with `HistoryEntry`'s request id and changes. Leave out of
    the snapshot the columns the database keeps itself: the model's own value of them may be stale."""
    return HistoricalRecords(
        bases=[HistoryEntry],
        excluded_fields=excluded_fields,
        history_id_field=models.BigAutoField(primary_key=True),  # a busy table outgrows 32 bits
    )


class TrackedModel(models.Model):
    """A model whose saves and deletes are recorded with their history in one transaction."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        with transaction.atomic(using=kwargs.get("using") or self._state.db, savepoint=False):
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        with transaction.atomic(using=kwargs.get("using") or self._state.db, savepoint=False):
            return super().delete(*args, **kwargs)


def tracked_fields(model) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields if field.editable and not field.primary_key]


_representation = DateTimeField()


# Values that are their own JSON value (most of a record's): returned before the checks below.
AS_IS = frozenset((str, int, bool, type(None), dict, list, float))


def json_value(value):
    """A field's value as the API writes it in JSON: date-times in UTC with `Z` (DRF's format), decimals as strings."""
    if type(value) in AS_IS:
        return value
    if isinstance(value, datetime.datetime):
        return _representation.to_representation(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def values_of(instance) -> dict:
    return {field.name: json_value(getattr(instance, field.attname)) for field in tracked_fields(type(instance))}


def read_for_update(instance) -> None:
    """`instance` was just read locked (`select_for_update()`) in the transaction that will save or delete it: its
    next save takes its values as they are now for the old ones, instead of reading the row again."""
    if isinstance(instance, TrackedModel):
        instance._history_read = values_of(instance)


def _before_save(sender, instance, raw=False, using=None, **kwargs):
    """The row as it is before the update, locked until the write's transaction ends; no entry for a save that
    changes none of the tracked fields."""
    if not isinstance(instance, TrackedModel) or raw:
        return
    instance.__dict__.pop("_stored", None)
    before = instance.__dict__.pop("_history_read", None)
    instance._history_before = None
    instance._history_unchanged = False
    if instance._state.adding or instance.pk is None:
        return
    if before is None:
        fields = tracked_fields(sender)
        row = (
            sender._base_manager.using(using)
            .select_for_update()
            .filter(pk=instance.pk)
            .values_list(*(field.attname for field in fields))
            .first()
        )
        if row is None:
            return
        before = {field.name: json_value(value) for field, value in zip(fields, row, strict=True)}
    instance._history_before = before
    instance._history_unchanged = before == values_of(instance)


def _after_save(sender, instance, created, raw=False, using=None, **kwargs):
    if not isinstance(instance, TrackedModel) or raw or instance.__dict__.pop("_history_unchanged", False):
        return
    after = values_of(instance)
    if created:
        _write(instance, "+", _created(after), using)
    else:
        # A row the locked read did not find (deleted meanwhile) counts every value as changed.
        before = getattr(instance, "_history_before", None) or {}
        changes = {
            name: {"old": before.get(name), "new": value}
            for name, value in after.items()
            if name not in before or before[name] != value
        }
        _write(instance, "~", changes, using)


def _before_delete(sender, instance, **kwargs):
    """The values the delete's entry keeps: a record read with some fields deferred has them read now."""
    if isinstance(instance, TrackedModel):
        deferred = instance.get_deferred_fields() & {field.attname for field in tracked_fields(sender)}
        if deferred:
            instance.refresh_from_db(fields=deferred)


def _after_delete(sender, instance, using=None, **kwargs):
    # A field that is null on both sides did not change: a delete lists the values it removed.
    if isinstance(instance, TrackedModel):
        values = values_of(instance).items()
        _write(instance, "-", {name: {"old": value, "new": None} for name, value in values if value is not None}, using)


def stored(instance, using=None):
    """The row `instance`'s last save wrote, as the database holds it (columns it keeps itself, JSON as it stores it),
    read once per save in the save's transaction: what the event of the change and the API's answer both show."""
    if "_stored" not in instance.__dict__:
        instance._stored = type(instance)._base_manager.using(using or instance._state.db).get(pk=instance.pk)
    return instance._stored


class Entry(NamedTuple):
    """A history entry being written: what a companion (WRITTEN_WITH) writes its row from."""

    instance: models.Model
    operation: str  # created, updated, deleted
    changes: dict
    request_id: str | None
    date: datetime.datetime
    using: str


# Rows written with every history entry, in the entry's own statement: functions of an Entry answering a row as
# (model, {attribute: value}), or None for none. events.services adds the change's event.
WRITTEN_WITH: list = []


@functools.cache
def history_model(model):
    return model.history.model  # simple-history builds a manager class on each `.history`


def _write(instance, history_type: str, changes: dict, using=None) -> None:
    """The entry of a save or delete of `instance` and its companions' rows, in one statement (apicore.db).

    simple-history's own recording is off (SIMPLE_HISTORY_ENABLED): it builds a manager class per access, a
    historical model instance and an ORM save per entry (0.5 ms of a write's CPU measured); the entry written here
    is the row its save would write (the snapshot, date, type, user, change reason), with our request id and changes.
    """
    using = using or instance._state.db or "default"
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(instance, "_history_user", None) or getattr(request, "user", None)
    entry = Entry(
        instance,
        OPERATIONS[history_type],
        changes,
        getattr(request, "request_id", None),
        getattr(instance, "_history_date", None) or timezone.now(),
        using,
    )
    rows = [entry_row(instance, history_type, changes, user, entry.request_id, entry.date)]
    for companion in WRITTEN_WITH:
        row = companion(entry)
        if row is not None:
            rows.append(row)
    insert_rows(rows, using)


def entry_row(instance, history_type: str, changes: dict, user, request_id, date) -> tuple[type, dict]:
    """(historical model, the entry's values) of a change of `instance`: the snapshot, the date, the type (`+`,
    `~`, `-`), the user (None for an anonymous one), the change reason, the request id and the changes."""
    model = history_model(type(instance))
    values = {field.attname: getattr(instance, field.attname) for field in model.tracked_fields}
    values.update(
        history_date=date,
        history_change_reason=getattr(instance, "_change_reason", None),
        history_type=history_type,
        history_user_id=user.pk if user is not None and user.is_authenticated else None,
        request_id=request_id,
        changes=changes,
    )
    return model, values


def _created(values: dict) -> dict:
    return {name: {"old": None, "new": value} for name, value in values.items() if value is not None}


@contextlib.contextmanager
def acting(user, request_id: str | None):
    """Writes made outside a request (the import worker's) recorded as made by `user` in the request `request_id`:
    the attribution simple-history's HistoryRequestMiddleware gives a request's writes."""
    context = HistoricalRecords.context
    previous = getattr(context, "request", None)
    context.request = types.SimpleNamespace(user=user, request_id=request_id)
    try:
        yield
    finally:
        context.request = previous


class Created(NamedTuple):
    """A `created` history entry written by record_created: the record's id, and the entry's."""

    id: int
    changes: dict
    request_id: str | None
    history_date: datetime.datetime


def record_created(instances: list, using=None) -> list[Created]:
    """The `created` entries of records inserted together by `bulk_create` or apicore.db.insert_all (which send no
    signals), as a save records each, attributed as `acting` says; call it in the insert's transaction."""
    if not instances:
        return []
    request = getattr(HistoricalRecords.context, "request", None)
    user, request_id, now = getattr(request, "user", None), getattr(request, "request_id", None), timezone.now()
    entries, rows = [], []
    for instance in instances:
        entry = Created(instance.pk, _created(values_of(instance)), request_id, now)
        entries.append(entry)
        model, values = entry_row(instance, "+", entry.changes, user, request_id, now)
        rows.append(list(values.values()))
    insert_values(model, list(values), rows, using or "default")
    return entries


def connect() -> None:
    pre_save.connect(_before_save, dispatch_uid="apicore.history.before_save")
    post_save.connect(_after_save, dispatch_uid="apicore.history.after_save")
    pre_delete.connect(_before_delete, dispatch_uid="apicore.history.before_delete")
    post_delete.connect(_after_delete, dispatch_uid="apicore.history.after_delete")
