"""Stored lines: each record's JSON line, as an export writes it, kept beside the record by the write that changes it.

An export of JSON Lines builds each record from its columns (apicore.export), about 18 µs of CPU a customer, most of
it decoding the row and its JSON columns and writing them again. The write that changes a record already builds its
representation, for its event (events.services) and its answer: the line written from it then costs one more row
in the write's own statement (WRITTEN_WITH, apicore.db.insert_rows), and an export reads the stored lines with its
keyset batches (about 4 µs a customer).

A line is used only while it is the record's: its `version` is the record's (every write bumps the version,
apicore.models.VersionField, the erase and `touch()` included) and its `form` is the representation's fingerprint
now (the serializer's fields and their options, the time zone, the API's rendering settings, FORMAT). Any other
line, and a record without one (written before lines were kept, or by a write that bypasses the model, such as a
COPY), is built from the columns as before, so a stale line is never answered. `omnitron store_lines` writes the
missing and stale ones (after an upgrade, or a change of representation).

Kept for a model by `keep(model, serializer_class, line_model)`, the line model a subclass of StoredLine with a
one-to-one primary key to the record (deleted with it).
"""

import functools
import hashlib

from django.db import models
from django.db.models import OuterRef, Subquery
from rest_framework.settings import api_settings

from apicore import history
from apicore.db import insert_rows, insert_values
from apicore.readpath import current_timezone

__all__ = [
    "FORMAT",
    "KEPT",
    "StoredLine",
    "fresh",
    "keep",
    "kept_for",
    "line_row",
    "represent",
    "store",
    "store_created",
]

# Bumped when how a line is written changes in a way the fingerprint cannot see (the renderer, a field class's code).
FORMAT = 1

# model -> (serializer class, line model)
KEPT: dict[type, tuple[type, type]] = {}


class StoredLine(models.Model):
    """A record's JSON line (`text`, without its newline), written at the record's `version`, in the representation
    whose fingerprint is `form`."""

    version = models.PositiveBigIntegerField()
    form = models.CharField(max_length=16)
    text = models.TextField()

    # The line of a record that has one replaces it (apicore.db.insert_rows).
    replaces_on_conflict = True

    class Meta:
        abstract = True


def keep(model, serializer_class, line_model) -> None:
    KEPT[model] = (serializer_class, line_model)
    if _line_companion not in history.WRITTEN_WITH:
        history.WRITTEN_WITH.append(_line_companion)


def kept_for(model, serializer_class):
    """The line model of `model`'s lines in `serializer_class`'s representation, or None."""
    kept = KEPT.get(model)
    return kept[1] if kept is not None and kept[0] is serializer_class else None


@functools.cache
def _serializer(serializer_class):
    # One per class: a ModelSerializer works out its fields when first used (0.5 ms a customer when made per write).
    return serializer_class()


def represent(row, serializer_class) -> dict:
    """The record of `row` as `serializer_class` represents it, built once per row: the write's event, its line and
    the answer to the write share it (apicore.serializers.ModelSerializer.data)."""
    kept = row.__dict__.get("_representation")
    if kept is not None and kept[0] is serializer_class:
        return kept[1]
    data = _serializer(serializer_class).to_representation(row)
    row._representation = (serializer_class, data)
    return data


@functools.cache
def _form(serializer_class, zone: str) -> str:
    names = (
        "DATETIME_FORMAT",
        "DATE_FORMAT",
        "TIME_FORMAT",
        "COERCE_DECIMAL_TO_STRING",
        "UNICODE_JSON",
        "COMPACT_JSON",
    )
    settings = [getattr(api_settings, name) for name in names]
    text = f"{FORMAT}|{zone}|{settings}|{serializer_class.__module__}.{serializer_class.__qualname__}|"
    text += repr(_serializer(serializer_class))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def form(serializer_class) -> str:
    """The fingerprint of `serializer_class`'s representation now (in the current time zone)."""
    return _form(serializer_class, str(current_timezone()))


def _text(records: list[dict]) -> list[str]:
    from apicore.export import Records, line_texts  # the export writes lines as it writes the others

    return line_texts(Records(records))


def line_row(instance, using: str | None = None):
    """(line model, values) of `instance`'s line as stored now, or None when its model keeps none."""
    kept = KEPT.get(type(instance))
    if kept is None:
        return None
    serializer_class, line_model = kept
    row = history.stored(instance, using)
    (text,) = _text([represent(row, serializer_class)])
    key = line_model._meta.pk.attname
    return line_model, {key: row.pk, "version": row.version, "form": form(serializer_class), "text": text}


def store(instance, using: str | None = None) -> None:
    """Writes `instance`'s line as stored now, for a write that records no history entry through a save (an erase)."""
    row = line_row(instance, using)
    if row is not None:
        insert_rows([row], using or instance._state.db or "default")


def _line_companion(entry: history.Entry):
    if entry.operation == "deleted":
        return None  # the line goes with the record (its one-to-one key cascades)
    return line_row(entry.instance, entry.using)


def store_created(model, records: list[dict], versions: list[int], using: str) -> None:
    """The lines of records inserted together (an import's batch) from their representations (as events'
    record_created builds them); call it in the insert's transaction."""
    kept = KEPT.get(model)
    if kept is None or not records:
        return
    serializer_class, line_model = kept
    fingerprint = form(serializer_class)
    rows = [
        [record["pk"], version, fingerprint, text]
        for record, version, text in zip(records, versions, _text(records), strict=True)
    ]
    insert_values(line_model, [line_model._meta.pk.attname, "version", "form", "text"], rows, using)


def fresh(model, serializer_class):
    """An expression of `model`'s rows: the stored line while it is the record's, else NULL. A subquery, looked up by
    key row by row: as a join, PostgreSQL merged the lines' whole key index from its start into every batch of a
    keyset walk (the batch's bound is on the record's key, not the line's): 160 ms a batch half-way through 1M."""
    line_model = KEPT[model][1]
    lines_ = line_model._default_manager.filter(
        pk=OuterRef("pk"), version=OuterRef("version"), form=form(serializer_class)
    )
    return Subquery(lines_.values("text"), output_field=models.TextField())


def store_missing(model, using: str = "default", batch: int = 1000, progress=None) -> int:
    """Writes the line of every record of `model` that has none or a stale one, in batches of `batch` records in
    primary key order, each read (its columns and version in one query) and written in its own statement; calls
    `progress(done, total)` after each. A record written meanwhile may be left with a stale line (its write's own
    line replaced by one of an older version): it is built from its columns by the export until written again.
    How many lines it wrote."""
    from apicore.export import Key, ValuesReader, line_texts

    serializer_class, line_model = KEPT[model]
    pk = model._meta.pk.attname
    reader = ValuesReader(_serializer(serializer_class), [Key(pk, False, False), Key("version", False, False)], using)
    stale = model._default_manager.using(using).alias(line=fresh(model, serializer_class)).filter(line__isnull=True)
    total, done, last = stale.count(), 0, None
    fingerprint = form(serializer_class)
    while True:
        part = stale.order_by(pk) if last is None else stale.filter(**{f"{pk}__gt": last}).order_by(pk)
        rows = reader.fetch(reader.prepare(part[:batch]))
        if not rows:
            return done
        keys = [reader.key(row) for row in rows]
        texts = line_texts(reader.records(rows))
        objs = [line_model(pk=key[pk], version=key["version"], form=fingerprint, text=text)
                for key, text in zip(keys, texts, strict=True)]  # fmt: skip
        line_model._default_manager.using(using).bulk_create(
            objs, update_conflicts=True, unique_fields=["pk"], update_fields=["version", "form", "text"]
        )
        done, last = done + len(rows), keys[-1][pk]
        if progress is not None:
            progress(done, total)
