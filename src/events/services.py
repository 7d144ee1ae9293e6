"""Recording events: each change of a published model writes one Event in the change's own transaction, from the
entry its history just made (apicore.history): same time, request id and changed fields."""

import datetime

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apicore import conditional, history, lines
from apicore.db import SQLValue, insert_rows, insert_values
from apicore.export import ValuesReader
from apicore.history import json_value, stored
from apicore.readpath import Unsupported
from events.models import Event

# The writing transaction's id (Event.txid), as PostgreSQL evaluates it in the INSERT.
CURRENT_TXID = SQLValue("pg_current_xact_id()::text::bigint")

# model -> (name, serializer class, operations published)
PUBLISHED: dict[type, tuple[str, type, tuple[str, ...]]] = {}


def publish(model, serializer_class, name: str, operations=("created", "updated", "deleted")) -> None:
    PUBLISHED[model] = (name, serializer_class, tuple(operations))


def event_types() -> list[str]:
    return [f"{name}.{operation}" for name, _, operations in PUBLISHED.values() for operation in operations]


def after(txid: int, pk: int) -> Q:
    """The events after the cursor (txid, pk) in the feed's order. `txid >= %s` bounds the index scan from the cursor
    on; the OR alone would be a filter over every older event (measured: 24 ms a page at 140,000 events)."""
    return Q(txid__gte=txid) & (Q(txid__gt=txid) | Q(pk__gt=pk))


def visible(queryset):
    """The events no transaction still running can add to before: on PostgreSQL, those of transactions older than
    every one still running (SQLite commits one write transaction at a time, in id order)."""
    if connections[queryset.db].vendor == "postgresql":
        return queryset.filter(txid__lt=RawSQL("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", []))
    return queryset


def allowed_types(user) -> list[str]:
    """The event types `user` may read: those of the models it has the `view_` permission of."""
    return [
        f"{name}.{operation}"
        for model, (name, _, operations) in PUBLISHED.items()
        if user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
        for operation in operations
    ]


def _event(entry: history.Entry):
    """The event of the change a history entry records: a row written in the entry's statement."""
    return event_row(entry.instance, entry.operation, entry.changes, entry.request_id, entry.date, entry.using)


def record_kept_by_database(instance, fields: list[str]) -> None:
    """The `updated` event of a change the database made to `instance`'s row itself (an order's refunded amount,
    kept by triggers when a refund is written): no save, so no history entry, but the record as the API answers it
    changed. `instance` holds the values from before; call it in the change's transaction."""
    row = stored(instance)
    changes = {}
    for name in fields:
        old, new = json_value(getattr(instance, name)), json_value(getattr(row, name))
        if old != new:
            changes[name] = {"old": old, "new": new}
    if changes:
        request = getattr(HistoricalRecords.context, "request", None)
        record(instance, "updated", changes, getattr(request, "request_id", None), timezone.now())


def record(instance, operation: str, changes: dict, request_id, created_date, using=None) -> None:
    """The event of a change that writes no history entry of its own (one the database made, an erase)."""
    event = event_row(instance, operation, changes, request_id, created_date, using)
    if event is not None:
        insert_rows([event], using or instance._state.db or "default")


def event_row(instance, operation: str, changes: dict, request_id, created_date, using=None):
    """(Event, its values) for a change of `instance`, or None when its model does not publish that operation."""
    published = PUBLISHED.get(type(instance))
    if published is None or operation not in published[2]:
        return None
    name, serializer_class, _ = published
    using = using or instance._state.db or "default"
    row = instance
    if operation != "deleted":
        # As the API answers it: read back in this transaction (columns the database keeps, such as an order's
        # refunded amount, are current there and not in the instance). The API's answer to the write is this same
        # representation (apicore.serializers.ModelSerializer.to_representation).
        row = stored(instance, using)
    data = lines.represent(row, serializer_class)
    return Event, {
        "txid": CURRENT_TXID if connections[using].vendor == "postgresql" else 0,
        "type": f"{name}.{operation}",
        "record_id": instance.pk,
        "data": data,
        "changes": changes,
        "version": conditional.etag(data),
        "request_id": request_id,
        "created_date": created_date,
    }


def record_created(model, entries: list, using=None) -> list[dict]:
    """The `created` events of records of `model` inserted together (an import's batch), from their history entries
    (apicore.history.record_created); call it in the insert's transaction. Each record is read back as stored (JSON
    as the database keeps it), all in one query, and represented as an export represents it: what the API answers.
    The records, in the entries' order (none when the model publishes no `created` event)."""
    if not entries or "created" not in PUBLISHED.get(model, ((), (), ()))[2]:
        return []
    name, serializer_class, _ = PUBLISHED[model]
    alias = using or "default"
    records = {record["pk"]: record for record in represented(serializer_class, [entry.id for entry in entries], alias)}
    txid = 0
    if connections[alias].vendor == "postgresql":
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
            (txid,) = cursor.fetchone()
    rows = []
    for entry in entries:
        data = records[entry.id]
        rows.append([txid, f"{name}.created", entry.id, data, entry.changes, conditional.etag(data), entry.request_id,
                     entry.history_date])  # fmt: skip
    names = ["txid", "type", "record_id", "data", "changes", "version", "request_id", "created_date"]
    insert_values(Event, names, rows, alias)
    return [records[entry.id] for entry in entries]


def represented(serializer_class, pks: list, alias: str) -> list[dict]:
    """The records as `serializer_class` represents them, read in one query (apicore.export's reading)."""
    queryset = serializer_class.Meta.model._default_manager.using(alias).filter(pk__in=pks).order_by("pk")
    try:
        reader = ValuesReader(serializer_class(), [], alias)
    except Unsupported:
        return serializer_class(queryset, many=True).data
    return reader.read(queryset)


def purge(now=None) -> int:
    """Deletes the events older than OMNITRON_EVENT_RETENTION_DAYS; how many."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.OMNITRON_EVENT_RETENTION_DAYS)
    deleted, _ = Event.objects.filter(created_date__lt=cutoff).delete()
    return deleted


def connect() -> None:
    if _event not in history.WRITTEN_WITH:
        history.WRITTEN_WITH.append(_event)
