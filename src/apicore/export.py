"""Exports: every row a list's filters match, streamed as JSON Lines or CSV, each record as the API represents it.

`GET <list>/export/?<the list's filters>&sort=&format=jsonl|csv[&detailed=true]` on a ModelViewSet with ExportMixin,
and `omnitron export_<resource>` (an ExportCommand), read the rows the list's FilterSet selects (through the view's
own `filter_queryset`, so every filter, `sort` and a scoped route's scope apply exactly as on the list, bad values
included) and stream them.

Keyset batches. The rows are read in batches of BATCH_SIZE, each ONE query in autocommit: `WHERE <filters> AND <after
the previous batch's last row> ORDER BY <the sort keys>, pk LIMIT n`. Nothing is held between batches (no server-side
cursor, no transaction, no OFFSET rereading what came before), so memory holds one batch whatever the export's size,
and the first bytes leave after one batch. The order is the list's `sort` (or the view's ordering) then the primary
key; NULLs sort as the greatest value (last ascending, first descending: PostgreSQL's default) on every database.
"After the last row" leads with a plain bound on the first key (`k >= v`, see events.services.after) so that an index
on it starts the scan there; a nullable first key is walked as two parts, its values then its NULLs (or the reverse,
descending), so that the bound needs no `OR k IS NULL`. Each batch sees the database as it is then: rows written
during an export appear if they sort after the position reached, and a row whose sort key changes meanwhile may be
met twice or not at all (with the default order, the primary key, every row present throughout appears once).

Records. A serializer whose fields are columns of the model (the read path's Representation accepts it) is read with
`values_list` and its records are built as the read path builds one (apicore.readpath: ConvertedRow,
Representation.column_representers), a column of the batch at a time: byte for byte what DRF answers, for some 13 µs of
CPU a customer, reading included, where DRF's serializer alone takes 50 to 70. Any other serializer (nested records,
aggregates) goes through DRF once per batch (`many=True`, so a RelatedTotalsListSerializer reads a whole batch's
totals in one query).

Formats. JSON Lines (`application/jsonl`, the default): one record per line, each line exactly the bytes
apicore.renderers.JSONRenderer writes for it, then `\\n`. CSV (`text/csv; charset=utf-8`, Python's csv module, default
dialect, `\\r\\n`): a header of the serializer's field names, then one row per record; a null is an empty cell,
booleans are `true`/`false`, a JSON object, array or fractional number is its compact JSON text as the API writes it,
strings (date-times as the API's ISO 8601 text) and integers are as the API's JSON gives them.
"""

import csv
import functools
import io
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

import orjson
import psycopg
from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, models
from django.db.models import ExpressionWrapper, F, OrderBy, Q, TextField
from django.http import HttpRequest, QueryDict, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.settings import api_settings

from apicore import lines
from apicore.filters import StrictBooleanField
from apicore.models import JSONField
from apicore.readpath import ConvertedRow, Representation, Unsupported, current_timezone
from apicore.renderers import JSONRenderer, _float_repr_differs

__all__ = ["BATCH_SIZE", "DEFAULT_FORMAT", "FORMATS", "Export", "ExportCommand", "ExportMixin"]

logger = logging.getLogger(__name__)

# Rows per query (tests lower it). A batch of customers is about 350 KB of JSON Lines. Larger batches save little on
# queries and cost more in Python's cyclic garbage collector, which walks what a batch holds alive: measured on 200,000
# customers, about 13 µs of CPU a row at 500, 15.5 at 1000, 17 at 2000 (12.3 with the collector off).
BATCH_SIZE = 500
DEFAULT_FORMAT = "jsonl"
RENDERER = JSONRenderer()
# orjson.dumps as JSONRenderer calls it.
DUMPS = functools.partial(
    orjson.dumps,
    default=JSONRenderer._default,
    option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS,
)


# --- Keyset batches --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One sort key: a column (the model field's attname), its direction, and whether it holds NULLs, which sort as the
    greatest value (last ascending, first descending)."""

    name: str
    descending: bool
    nullable: bool

    def order(self):
        column = F(self.name)
        if self.descending:
            return column.desc(nulls_first=True) if self.nullable else column.desc()
        return column.asc(nulls_last=True) if self.nullable else column.asc()

    def same(self, value) -> Q:
        return Q(**{f"{self.name}__isnull": True}) if value is None else Q(**{self.name: value})

    def beyond(self, value) -> Q | None:
        """The rows strictly after `value` in this key's order; None: no row."""
        if value is None:
            return Q(**{f"{self.name}__isnull": False}) if self.descending else None
        beyond = Q(**{f"{self.name}__{'lt' if self.descending else 'gt'}": value})
        if self.nullable and not self.descending:
            beyond |= Q(**{f"{self.name}__isnull": True})
        return beyond

    def bound(self, value) -> Q:
        """`k >= value` (`<=` descending): where an index on the key starts its scan."""
        return Q(**{f"{self.name}__{'lte' if self.descending else 'gte'}": value})


def sort_keys(queryset) -> list[Key]:
    """The queryset's order (its order_by, else the model's ordering) as keys, up to and including the primary key,
    which is added last when absent: the order is total. A term that is not a column of the model (a related model's
    field, an expression, `?`: the admin's list can sort so) ends the keys there; the primary key orders the rest."""
    opts = queryset.model._meta
    keys, seen = [], set()
    for term in list(queryset.query.order_by) or list(opts.ordering):
        if isinstance(term, OrderBy) and isinstance(term.expression, F):
            name, descending = term.expression.name, term.descending
        elif isinstance(term, str):
            name, descending = term.lstrip("-"), term.startswith("-")
        else:
            name, descending = None, False
        try:
            field = opts.pk if name == "pk" else opts.get_field(name) if name and "__" not in name else None
        except FieldDoesNotExist:
            field = None
        if field is None or not field.concrete or (field.is_relation and name != field.attname):
            logger.info("export of %s: ordered by the primary key from %r on", opts.verbose_name_plural, term)
            break
        if field.attname in seen:
            continue
        seen.add(field.attname)
        keys.append(Key(field.attname, descending, field.null))
        if field.primary_key:
            return keys  # unique: later keys never decide
    return [*keys, Key(opts.pk.attname, False, False)]


def segments(keys: list[Key]) -> list[tuple[Q, list[Key]]]:
    """The order as consecutive parts, each a condition and the keys that order it, whose first key holds no NULL:
    a nullable first key splits the order into its values and its NULLs (NULLs last ascending, first descending)."""
    first, rest = keys[0], keys[1:]
    if not first.nullable:
        return [(Q(), keys)]
    values = [(Q(**{f"{first.name}__isnull": False}), [replace(first, nullable=False), *rest])]
    nulls = [(Q(**{f"{first.name}__isnull": True}) & where, part) for where, part in segments(rest)]
    return nulls + values if first.descending else values + nulls


def after(keys: list[Key], last: dict) -> Q:
    """The rows after `last` (each key's value) in the order of `keys`, whose first key holds no NULL:
    `k1 >= v1 AND (k1 > v1 OR (k1 = v1 AND (k2 > v2 OR ...)))`."""
    if len(keys) == 1:
        return keys[0].beyond(last[keys[0].name])
    return keys[0].bound(last[keys[0].name]) & _after(keys, last)


def _after(keys: list[Key], last: dict) -> Q | None:
    key, value = keys[0], last[keys[0].name]
    beyond = key.beyond(value)
    if len(keys) == 1:
        return beyond
    rest = _after(keys[1:], last)
    tied = None if rest is None else key.same(value) & rest
    if beyond is None or tied is None:
        return beyond if tied is None else tied
    return beyond | tied


# --- Records ---------------------------------------------------------------------------------------------------


class Records(NamedTuple):
    """A batch's records, and whether one may hold a float below 1e-4: orjson spells those otherwise than DRF
    (apicore.renderers), and looking for them in the written lines costs a fifth of an exported customer's time."""

    records: list[dict]
    small_floats: bool = True


# The types of a value in which no float hides.
SCALARS = frozenset({str, int, bool, type(None)})


class ValuesReader:
    """Reads a batch with `values_list` and builds its records as the read path builds one (apicore.readpath: the
    values arrive converted as the ORM converts them, ConvertedRow; Representation.column_representers decides each
    column's treatment once and applies it to the whole column). Unsupported for a serializer the read path cannot
    represent, or with nested serializers or aggregates: InstancesReader then.

    JSON columns are read as text and parsed a batch at a time (_json_column): Django's converters parse them value by
    value, a third of an exported customer's time."""

    def __init__(self, serializer, keys: list[Key], alias: str):
        if type(serializer).to_representation is not serializers.Serializer.to_representation:
            raise Unsupported(f"{type(serializer).__name__}: a to_representation of its own")
        row, joins = ConvertedRow(), []
        representation = Representation(serializer, "r", row, joins)
        if joins:
            raise Unsupported(f"{type(serializer).__name__}: nested serializers or aggregates")
        representers = representation.column_representers(row, current_timezone())
        connection = connections[alias]
        names = row.names()
        by_name = dict(zip(names, row.fields, strict=True))
        columns = [name for name in dict.fromkeys(names) if not isinstance(by_name[name], models.JSONField)]
        columns += [key.name for key in keys if key.name not in columns]
        # JSON last: values_list keeps the order of its arguments only when expressions come after the fields.
        json = [name for name in dict.fromkeys(names) if isinstance(by_name[name], models.JSONField)]
        self.select = [*columns, *(ExpressionWrapper(F(name), output_field=TextField()) for name in json)]
        columns += json
        self.json = [(columns.index(name), _json_column(by_name[name], connection)) for name in json]
        self.names = [name for name, *_ in representers]
        self.positions = [columns.index(names[index]) for _, index, *_ in representers]
        self.conversions = [(n, represent) for n, (_, _, represent, _) in enumerate(representers) if represent]
        self.keys = [(key.name, columns.index(key.name)) for key in keys]
        # The representations whose types are looked at in each batch: those that may be a float or hold one, but for
        # the JSON values taken as they are parsed (their texts are looked at).
        parsed = {index for index, _ in self.json}
        self.unknown = [
            n
            for n, (_, _, represent, scalar) in enumerate(representers)
            if not scalar and not (self.positions[n] in parsed and represent is None)
        ]
        self.postgresql = connection.vendor == "postgresql"

    def prepare(self, queryset):
        return queryset.values_list(*self.select)

    def fetch(self, queryset) -> list[tuple]:
        if not self.postgresql:
            return list(queryset)
        with connections[queryset.db].execute_wrapper(_native_timestamptz):
            return list(queryset)

    def key(self, row: tuple) -> dict:
        return {name: row[index] for name, index in self.keys}

    def read(self, queryset) -> list[dict]:
        """The records of `queryset`'s rows, read in one query (for callers other than an export's batches)."""
        return self.records(self.fetch(self.prepare(queryset))).records

    def records(self, rows: list[tuple]) -> Records:
        """The batch's records. Whether one may hold a small float is decided on the batch's JSON texts (_json_column)
        and on the types of the representations not known to be scalars (Representation.column_representers), in
        place of scanning the lines."""
        if not rows:
            return Records([], False)
        columns = list(zip(*rows, strict=True))
        small_floats = False
        for index, convert in self.json:
            columns[index], spelled = convert(columns[index])
            small_floats = small_floats or spelled
        values = [columns[position] for position in self.positions]
        for n, represent in self.conversions:
            values[n] = represent(values[n])
        if not small_floats:
            small_floats = any(not set(map(type, values[n])) <= SCALARS for n in self.unknown)
        return Records(list(map(dict, map(zip, itertools.repeat(self.names), zip(*values, strict=True)))), small_floats)


def _json_column(field, connection) -> Callable[[tuple], tuple[list, bool]]:
    """The column's texts as `field.from_db_value` reads each, and whether one may hold a number below 1e-4 (spelled
    `0.0000...` or with an exponent: in jsonb's text and in any other). For apicore.models.JSONField (orjson, unless a
    number has 20 digits or more): one orjson.loads of the batch's texts as one array, the same values in one call
    (each text is one valid JSON value: jsonb, or SQLite's JSON_VALID check); a batch that has such a number or that
    orjson refuses is read value by value by from_db_value itself."""
    batched = type(field).from_db_value is JSONField.from_db_value and field.decoder is None

    def convert(texts: tuple) -> tuple[list, bool]:
        present = [text for text in texts if text is not None] if None in texts else texts
        if not present:
            return list(texts), False
        if batched:
            joined = f"[{','.join(present)}]"
            encoded = joined.encode("utf-8", "surrogatepass")
            if not _has_long_number(encoded):
                try:
                    values = orjson.loads(joined)
                except orjson.JSONDecodeError:
                    values = None
                if values is not None and len(values) == len(present):  # each text one JSON value
                    small = b"0.0000" in encoded or b"e-" in encoded or b"E-" in encoded
                    if present is texts:
                        return values, small
                    found = iter(values)
                    return [None if text is None else next(found) for text in texts], small
        return [None if text is None else field.from_db_value(text, None, connection) for text in texts], True

    return convert


DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
LONG_RUN = b"0" * 20


def _has_long_number(encoded: bytes) -> bool:
    """`LONG_NUMBER.search(text)` of the text `encoded` (UTF-8; 20 ASCII digits in a row: apicore.models.JSONField
    reads such text Django's way), at memory speed: the regex scans a batch's JSON a character at a time, a fifth of
    an exported customer's time."""
    return LONG_RUN in encoded.translate(DIGITS_TO_ZERO)


def _native_timestamptz(execute, sql, params, many, context):
    """Django's PostgreSQL backend reads timestamptz with a loader written in Python (5 µs a value, a third of an
    exported customer's time before this); psycopg's own, in C, reads the same instant, in the session's time zone
    (UTC, which Django sets), and the read path's representation writes the same text for it. Export queries only."""
    context["cursor"].cursor.adapters.register_loader(TIMESTAMPTZ, TIMESTAMPTZ_LOADER)
    return execute(sql, params, many, context)


TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid
# psycopg's own loader (in C with psycopg[binary]), not the one Django registers on its connections.
TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(TIMESTAMPTZ, psycopg.pq.Format.TEXT)


class InstancesReader:
    """Reads a batch of model instances and represents them with the serializer, DRF's way (`many=True`: a list
    serializer may read what the whole batch needs at once)."""

    def __init__(self, serializer_class, context: dict, keys: list[Key]):
        self.serializer_class, self.context = serializer_class, context
        self.names = [name for name, field in serializer_class(context=context).fields.items() if not field.write_only]
        self.keys = [key.name for key in keys]

    def prepare(self, queryset):
        return queryset

    def fetch(self, queryset) -> list:
        return list(queryset)

    def key(self, instance) -> dict:
        return {name: getattr(instance, name) for name in self.keys}

    def records(self, instances: list) -> Records:
        return Records(self.serializer_class(instances, many=True, context=self.context).data)


class LinesReader:
    """JSON Lines of stored lines (apicore.lines): a batch's query reads each row's keys and its line while it is the
    record's (lines.fresh, a subquery on the line's key); the rows without one are read by a ValuesReader and their
    lines built from their columns, in one more query for the batch. About 4 µs of CPU a customer where building one
    is 18."""

    def __init__(self, serializer, keys: list[Key], queryset):
        model, alias = queryset.model, queryset.db
        self.names = ValuesReader(serializer, [], alias).names
        self.missing = ValuesReader(serializer, [Key(model._meta.pk.attname, False, False)], alias)
        self.model, self.alias, self.pk = model, alias, model._meta.pk.attname
        self.line = lines.fresh(model, type(serializer))
        columns = list(dict.fromkeys([self.pk, *(key.name for key in keys)]))
        self.select = [*columns, self.line]
        self.keys = [(key.name, columns.index(key.name)) for key in keys]

    def prepare(self, queryset):
        return queryset.values_list(*self.select)

    def fetch(self, queryset) -> list[tuple]:
        return list(queryset)

    def key(self, row: tuple) -> dict:
        return {name: row[index] for name, index in self.keys}

    def body(self, rows: list[tuple]) -> bytes:
        texts = [row[-1] for row in rows]
        if None in texts:
            built = self.build([row[0] for row in rows if row[-1] is None])
            # A row deleted since the batch was read has no line: it is left out, as if deleted just before.
            texts = [built.get(row[0]) if text is None else text for row, text in zip(rows, texts, strict=True)]
            texts = [text for text in texts if text is not None]
        texts.append("")
        return "\n".join(texts).encode()

    def build(self, pks: list) -> dict:
        """The lines of the records `pks` built from their columns, by primary key."""
        queryset = self.model._default_manager.using(self.alias).filter(pk__in=pks).order_by("pk")
        rows = self.missing.fetch(self.missing.prepare(queryset))
        texts = line_texts(self.missing.records(rows))
        return {self.missing.key(row)[self.pk]: text for row, text in zip(rows, texts, strict=True)}


# --- Formats ---------------------------------------------------------------------------------------------------


class JSONLines:
    media_type = "application/jsonl"
    extension = "jsonl"

    def header(self, names: list[str]) -> bytes:
        return b""

    def body(self, batch: Records) -> bytes:
        """Each record as JSONRenderer().render(record), then `\\n`. orjson writes the lines; what JSONRenderer would
        write otherwise (a record orjson refuses, a float it spells differently: looked for in the whole batch unless
        its reader knows there is none) is written by JSONRenderer itself, record by record."""
        records = batch.records
        try:
            lines = list(map(DUMPS, records))
        except orjson.JSONEncodeError:
            lines = [_dumps(record) for record in records]
        lines.append(b"")
        body = b"\n".join(lines)
        if batch.small_floats and _float_repr_differs(body):
            return b"".join(RENDERER.render(record) + b"\n" for record in records)
        if b"\xe2" not in body:  # the first byte of U+2028 and U+2029 in UTF-8: found at memchr speed
            return body
        return body.replace("\u2028".encode(), rb"\u2028").replace("\u2029".encode(), rb"\u2029")


def line_texts(batch: Records) -> list[str]:
    """Each record's JSON line as JSONLines writes it, without its newline (apicore.lines stores them)."""
    return JSONLines().body(batch).decode().split("\n")[:-1]


def _dumps(record: dict) -> bytes:
    try:
        return DUMPS(record)
    except orjson.JSONEncodeError:
        return RENDERER.render(record)


class CSV:
    media_type = "text/csv; charset=utf-8"
    extension = "csv"

    def header(self, names: list[str]) -> bytes:
        return self._rows([names])

    def body(self, batch: Records) -> bytes:
        return self._rows([_cell(value) for value in record.values()] for record in batch.records)

    @staticmethod
    def _rows(rows) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue().encode()


def _cell(value) -> str:
    """A value as a CSV cell: empty for null, `true`/`false`, a string or integer as it is, anything else (a JSON
    object or array, a fractional number) as the JSON text the API writes for it."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return RENDERER.render(value).decode()


FORMATS = {"jsonl": JSONLines, "csv": CSV}


# --- The export ------------------------------------------------------------------------------------------------


class Export:
    """The rows of `queryset` (filtered; its order is the export's, see sort_keys) as `serializer_class` represents
    them, in the format `format_name`."""

    def __init__(self, queryset, serializer_class, format_name: str, context: dict | None = None, name: str = "rows"):
        self.name = name
        self.keys = sort_keys(queryset)
        context = context or {}
        try:
            self.reader = ValuesReader(serializer_class(context=context), self.keys, queryset.db)
        except (Unsupported, ValueError) as reason:  # ValueError: aggregates the read path does not compile
            logger.debug("export of %s: represented by DRF: %s", name, reason)
            self.reader = InstancesReader(serializer_class, context, self.keys)
        if format_name == "jsonl" and isinstance(self.reader, ValuesReader):
            if lines.kept_for(queryset.model, serializer_class) is not None:
                self.reader = LinesReader(serializer_class(context=context), self.keys, queryset)
        self.queryset = self.reader.prepare(queryset.order_by(*(key.order() for key in self.keys)))
        self.format = FORMATS[format_name]()
        self.filename = f"{name}.{self.format.extension}"

    def batches(self) -> Iterator[list]:
        """The rows, batch by batch, each batch one query (see the module's docstring)."""
        size = BATCH_SIZE
        for where, keys in segments(self.keys):
            part = self.queryset.filter(where)
            last = None
            while True:
                rows = self.reader.fetch((part if last is None else part.filter(after(keys, last)))[:size])
                if rows:
                    yield rows
                if len(rows) < size:
                    break
                last = self.reader.key(rows[-1])

    def body(self, batch: list) -> bytes:
        if isinstance(self.reader, LinesReader):
            return self.reader.body(batch)
        return self.format.body(self.reader.records(batch))

    def chunks(self) -> Iterator[bytes]:
        """The file, one chunk per batch (the header with the first); never an empty chunk."""
        rows = batches = 0
        outcome = "stopped"
        started = time.monotonic()
        try:
            pending = self.format.header(self.reader.names)
            for batch in self.batches():
                pending += self.body(batch)
                rows, batches = rows + len(batch), batches + 1
                yield pending
                pending = b""
            if pending:
                yield pending
            outcome = "finished"
        except GeneratorExit:
            outcome = "stopped: the client went away"
            raise
        except Exception as error:
            outcome = f"failed: {error!r}"
            raise
        finally:
            logger.info(
                "export of %s %s after %d rows in %d batches (%.1f s)",
                self.name, outcome, rows, batches, time.monotonic() - started,
            )  # fmt: skip


# --- The HTTP action -------------------------------------------------------------------------------------------


class _NoFormatOverride:
    """DRF's settings without URL_FORMAT_OVERRIDE: an export's `format` is its own parameter."""

    URL_FORMAT_OVERRIDE = None

    def __getattr__(self, name):
        return getattr(api_settings, name)


class _Media(renderers.BaseRenderer):
    """A media type an export answers, for content negotiation only (the export writes its own bytes)."""

    def __init__(self, media_type: str):
        self.media_type = media_type


class ExportNegotiation(DefaultContentNegotiation):
    """An export's `format` parameter names its file format, not a renderer (DRF would answer 404 for `format=csv`).
    `Accept` must allow JSON (the errors) or an export format, else 406; the body is the format `format` names,
    errors are JSON (the view's renderer)."""

    settings = _NoFormatOverride()

    def select_renderer(self, request, renderers_, format_suffix=None):
        offered = [_Media(fmt.media_type.split(";")[0]) for fmt in FORMATS.values()]  # `text/csv` accepts ours
        super().select_renderer(request, [*renderers_, *offered])
        return renderers_[0], renderers_[0].media_type


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    str,
    enum=sorted(FORMATS),
    default=DEFAULT_FORMAT,
    description=(
        "`jsonl` (default): JSON Lines, one record per line exactly as the API writes it. `csv`: a header of the field "
        "names, then a row per record; null is an empty cell, booleans `true`/`false`, JSON objects and arrays their "
        "compact JSON text, date-times the API's ISO 8601 text."
    ),
)
DETAILED_PARAMETER = OpenApiParameter(
    "detailed",
    bool,
    default=False,
    description="`true`: each record as the detailed list represents it (the channel embedded, `orders_info`).",
)


FILE_RESPONSE = OpenApiResponse(
    response=OpenApiTypes.STR,
    description=(
        "The file, as an attachment: `application/jsonl` (`format=jsonl`), one JSON object per line, each ending "
        "`\\n`; or `text/csv; charset=utf-8` (`format=csv`), a header row, then one row per record (`\\r\\n`)."
    ),
)


@dataclass
class _ExportRequest:
    format_name: str
    detailed: bool


def export_parameters(params: QueryDict) -> _ExportRequest:
    """`format` and `detailed` of a query string; a 400 naming the bad one."""
    format_name = params.get("format") or DEFAULT_FORMAT
    if format_name not in FORMATS:
        raise ValidationError(
            {"format": [f"Choose one of {', '.join(sorted(FORMATS))}, not {format_name!r}."]}, code="invalid_choice"
        )
    try:
        detailed = bool(StrictBooleanField(required=False).clean(params.get("detailed")))
    except Exception:
        raise ValidationError({"detailed": ["Must be true or false."]}, code="invalid") from None
    return _ExportRequest(format_name, detailed)


class ExportMixin:
    """`GET <list>/export/`: every row the list's filters match, streamed (the module's docstring). Permission, filters,
    `sort` and scope are the list's: the view set's own (`filter_queryset(get_queryset())`). `detailed=true` exports
    the representation and rows of the list action named by `export_detailed_action` (400 where there is none).
    The read path does not answer it (it is not among `read_actions`)."""

    export_detailed_action: str | None = None

    @extend_schema(
        parameters=[FORMAT_PARAMETER, DETAILED_PARAMETER],
        responses={(200, media_type): FILE_RESPONSE for media_type in (JSONLines.media_type, "text/csv")},
        description=(
            "Every row the filters match (not a page), in the order `sort` asks (then `pk`; nulls last ascending, "
            "first descending), streamed as `Content-Disposition: attachment`. Takes the list's filters."
        ),
    )
    @action(detail=False, url_path="export", pagination_class=None, content_negotiation_class=ExportNegotiation)
    def export(self, request, *args, **kwargs):
        wanted = export_parameters(request.query_params)
        export = self.exporter(wanted.format_name, wanted.detailed)
        response = StreamingHttpResponse(content_type=export.format.media_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        if request.method == "HEAD":
            return response
        chunks = export.chunks()
        # The first batch is read before the answer starts: a failure there (the database is gone) is still answered
        # as an error, not as a cut 200.
        first = next(chunks, b"")
        response.streaming_content = _prepended(first, chunks)
        return response

    def exporter(self, format_name: str, detailed: bool = False) -> Export:
        """The view's export: its filtered queryset and serializer (those of `export_detailed_action` when
        `detailed`)."""
        current = self.action
        if detailed:
            if not self.export_detailed_action:
                raise ValidationError({"detailed": ["This resource has no detailed representation."]}, code="invalid")
            self.action = self.export_detailed_action
        try:
            queryset = self.filter_queryset(self.get_queryset())
            serializer_class = self.get_serializer_class()
            context = self.get_serializer_context()
        finally:
            self.action = current
        name = str(queryset.model._meta.verbose_name_plural).replace(" ", "_")
        return Export(queryset, serializer_class, format_name, context=context, name=name)


def _prepended(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """`first`, then `rest`; closing it (the client went away) closes `rest`."""
    try:
        if first:
            yield first
        yield from rest
    finally:
        rest.close()


# --- The command -----------------------------------------------------------------------------------------------


class ExportCommand(BaseCommand):
    """`omnitron export_<resource> [--format jsonl|csv] [--detailed] [--output FILE] [FILTER=VALUE ...]`: the API's
    export (ExportMixin) of `viewset`, without a server: the same filters, through the same FilterSet."""

    viewset: type

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=sorted(FORMATS), default=DEFAULT_FORMAT, help="default: jsonl")
        parser.add_argument("--detailed", action="store_true", help="the detailed representation")
        parser.add_argument("--output", "-o", default="-", help="the file to write (default: standard output)")
        parser.add_argument(
            "filters", nargs="*", metavar="FILTER=VALUE", help="the list's filters and sort, e.g. email_allowed=true"
        )

    def handle(self, *args, format, detailed, output, filters, **options):
        params = QueryDict(mutable=True)
        for item in filters:
            name, equals, value = item.partition("=")
            if not equals or not name:
                raise CommandError(f"{item!r}: write a filter as FILTER=VALUE")
            params.appendlist(name, value)
        view = self.view(params)
        filterset_class = view.filter_backends[0]().get_filterset_class(view, view.queryset)
        unknown = [name for name in params if filterset_class is None or not filterset_class.names_a_filter(name)]
        if unknown:
            raise CommandError(f"no such filter: {', '.join(unknown)}")
        try:
            export = view.exporter(format, detailed)
        except ValidationError as error:
            raise CommandError(_problems(error.detail)) from None
        if output == "-":
            self._write(export, getattr(self.stdout._out, "buffer", None) or _TextWriter(self.stdout._out))
            return
        with open(output, "wb") as target:
            self._write(export, target)

    def view(self, params: QueryDict):
        """The view set as a GET of its export would see it, with `params` as the query string."""
        request = HttpRequest()
        request.method = "GET"
        request.GET = params
        view = self.viewset(action="export", args=(), kwargs={}, format_kwarg=None)
        view.request = Request(request)
        return view

    @staticmethod
    def _write(export: Export, target) -> None:
        for chunk in export.chunks():
            target.write(chunk)
        target.flush()


class _TextWriter:
    """A text stream written bytes (the command's stdout replaced by a StringIO)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode())

    def flush(self) -> None:
        self.stream.flush()


def _problems(detail) -> str:
    """A ValidationError's detail as one line per parameter: `email__startswith: Enter ...`."""
    if isinstance(detail, dict):
        return "; ".join(f"{name}: {' '.join(map(str, messages))}" for name, messages in detail.items())
    return " ".join(map(str, detail)) if isinstance(detail, list) else str(detail)
