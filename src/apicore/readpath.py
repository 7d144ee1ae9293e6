"""The read path: hot GETs answered with one SQL statement each, in front of Django.

A WSGI callable wraps the Django application. For a GET of a route whose view declares it (`read_actions`: which
actions are a list and which one record), on PostgreSQL, it sends ONE prepared statement that checks the token by
its digest (expiry included) and that its user is active, checks the model permission (superuser, the user's own or
a group's), and reads what the response shows: the record, or the page of the list with its filters and sort, and
when the page is full the list's total by the rule of apicore.pagination (`omnitron_list_count`, installed by a
migration). It then builds the status, headers and body bytes DRF would, and counts the request against the same
rate limit. Everything else goes to Django untouched: writes, other routes, and any read it cannot answer exactly (a
header or parameter it does not know, an invalid value, a token or permission that fails, a missing record or page,
a database error, SQLite). Errors therefore always come from DRF. Under granian, `LoopReader` answers the same way on
the worker's event loop, with connections of its own (omnitron serve).

A view action's statement and how its rows become JSON are worked out from the declarations the DRF path uses too:
the view's model, serializer, `scope`, filter set and pagination; the serializer's fields and their model fields;
each filter's field, lookup and form field (which parses the value, as django-filter does); the permission DRF
checks. A list's statement is made once per shape (the filters named, the sort): statements are server-side
prepared statements (psycopg's `prepare=True`), so PostgreSQL parses and plans each shape once per connection. Each
value goes through the model field's `from_db_value` and the DRF field's own `to_representation`; lists through
the view's own Pagination (links, envelope, headers); bodies through DRF's renderer. The bytes agree by construction,
and tests/apicore/test_readpath.py sends requests both ways and compares status, headers and body.

Where to add a filter so that both paths have it: declare it in the resource's FilterSet. The read path compiles the
lookups listed in LOOKUPS for fields of the model and DateOfDateTimeFilter's ranges; a filter it cannot compile
(another lookup, a `method`) is answered by Django, which is slower, not wrong.
"""

import asyncio
import contextlib
import contextvars
import datetime
import hashlib
import logging
import operator
import re
from collections.abc import Callable
from typing import NamedTuple

import orjson
import psycopg
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import DisallowedHost, FieldDoesNotExist
from django.core.handlers.wsgi import WSGIRequest
from django.db import Error as DatabaseErrors
from django.db import connections, models
from django.http import QueryDict
from django.urls import Resolver404, resolve
from django.utils import timezone
from django_filters import filters as django_filters
from django_filters.constants import EMPTY_VALUES
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from psycopg import sql
from psycopg.types.json import Jsonb
from rest_framework import ISO_8601, relations, serializers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.settings import api_settings

from apicore import conditional, filters, throttling
from apicore.authentication import TOKEN_RE
from apicore.middleware import request_id
from apicore.pagination import EstimatingPaginator, Pagination, ProbedPage
from apicore.renderers import JSONRenderer

__all__ = ["ReadPath"]

logger = logging.getLogger(__name__)

BIGINT_MAX = 2**63 - 1
AUTHORIZATION = re.compile(r"Token ([^ ]+)")
DIGITS = re.compile(r"[0-9]{1,19}")
# Request headers that change nothing in a read's answer (HTTP plumbing, what clients send by habit); a read with
# any other header goes to Django, which knows what to do with it.
NEUTRAL_HEADERS = frozenset(
    "HTTP_" + name
    for name in (
        "HOST", "AUTHORIZATION", "ACCEPT", "ACCEPT_ENCODING", "ACCEPT_LANGUAGE", "CONNECTION", "USER_AGENT",
        "IF_NONE_MATCH", "X_REQUEST_ID", "X_FORWARDED_FOR", "X_FORWARDED_PROTO", "X_REAL_IP", "CACHE_CONTROL",
        "PRAGMA", "KEEP_ALIVE", "REFERER", "ORIGIN", "COOKIE",
    )
)  # fmt: skip
# `Accept` values DRF answers with its JSON renderer, as it would without the header.
JSON_ACCEPTED = frozenset({"*/*", "application/json", "application/*"})
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified"}
# Django's SQL for each lookup a filter may use (django.db.backends.postgresql's operators); `%s` is the value.
LOOKUPS = {
    "exact": "{col} = %s",
    "iexact": "UPPER({col}::text) = UPPER(%s)",
    "istartswith": "UPPER({col}::text) LIKE UPPER(%s)",
    "icontains": "UPPER({col}::text) LIKE UPPER(%s)",
    "gt": "{col} > %s",
    "gte": "{col} >= %s",
    "lt": "{col} < %s",
    "lte": "{col} <= %s",
    "in": "{col} = ANY(%s)",
}


class Unsupported(Exception):
    """A view action or filter the read path cannot answer exactly; Django answers it."""


class Declined(Exception):
    """This request goes to Django (an invalid value, say): DRF knows what to answer."""


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def like_escaped(value: str) -> str:
    """A value as Django writes it into a LIKE pattern (django.db.backends.postgresql's prep_for_like_query)."""
    return value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


class Row:
    """The columns a statement reads, in order, each with its model field (whose `from_db_value` reads it)."""

    def __init__(self):
        self.sql: list[str] = []
        self.fields: list = []

    def add(self, column: str, model_field=None) -> int:
        self.sql.append(column)
        self.fields.append(model_field)
        return len(self.sql) - 1

    def value(self, values: tuple, index: int):
        value = values[index]
        field = self.fields[index]
        if value is not None and hasattr(field, "from_db_value"):
            value = field.from_db_value(value, None, None)
        return value


class ConvertedRow(Row):
    """A Row the ORM reads (`values_list(*row.names())`): its values arrive converted (the model fields'
    `from_db_value` and the backend's converters have run) and are taken as they are. apicore.export reads so."""

    def names(self) -> list[str]:
        """The columns as the ORM names them (the model fields' attribute names), for `values_list`."""
        if None in self.fields:
            raise Unsupported("a column of no model field (an aggregate)")
        return [field.attname for field in self.fields]

    def value(self, values: tuple, index: int):
        return values[index]


class Representation:
    """How a serializer represents a row: each field's `to_representation` of its model field's value (None stays
    None, as in DRF's Serializer.to_representation), a nested serializer on a foreign key from a joined table, and
    aggregates a field declares (`read_path_aggregates`: apicore.serializers.RelatedTotals)."""

    def __init__(self, serializer, alias: str, row: Row, joins: list[str]):
        opts = serializer.Meta.model._meta
        where = f"{type(serializer).__name__}"
        self.pk = row.add(f"{alias}.{q(opts.pk.column)}", opts.pk)
        self.steps: list[tuple] = []
        for name, field in serializer.fields.items():
            if field.write_only:
                continue
            aggregates = getattr(field, "read_path_aggregates", None)
            if aggregates is not None:
                self.steps.append((name, "aggregates", aggregates(opts, alias, row, joins), field))
                continue
            if isinstance(field, serializers.SerializerMethodField) or field.source == "*":
                raise Unsupported(f"{where}.{name}: computed by a method")
            try:
                model_field = opts.pk if field.source == "pk" else opts.get_field(field.source)
            except FieldDoesNotExist:
                raise Unsupported(f"{where}.{name}: no model field of that name") from None
            if isinstance(field, serializers.ModelSerializer):
                if not (model_field.many_to_one and field.read_only):
                    raise Unsupported(f"{where}.{name}: a nested serializer not on a foreign key")
                nested = f"{alias}_{len(joins)}"
                related = model_field.related_model._meta
                joins.append(
                    f"LEFT JOIN {q(related.db_table)} {nested} "
                    f"ON {nested}.{q(related.pk.column)} = {alias}.{q(model_field.column)}"
                )
                self.steps.append((name, "nested", Representation(field, nested, row, joins), field))
                continue
            if not model_field.concrete or model_field.many_to_many or model_field.one_to_many:
                raise Unsupported(f"{where}.{name}: not a column")
            if isinstance(field, relations.RelatedField) and not (
                isinstance(field, relations.PrimaryKeyRelatedField) and field.pk_field is None
            ):
                raise Unsupported(f"{where}.{name}: a related field other than the id")
            self.steps.append((name, _kind(field), row.add(f"{alias}.{q(model_field.column)}", model_field), field))

    def build(self, row: Row, values: tuple, tz) -> dict | None:
        """The representation of the record in `values`, or None where a LEFT JOIN found none; `tz` is the current
        time zone (DRF looks it up for every date-time: looked up once per request here)."""
        if values[self.pk] is None:
            return None
        data = {}
        for name, kind, where, field in self.steps:
            if kind == "nested":
                data[name] = where.build(row, values, tz)
                continue
            if kind == "aggregates":
                data[name] = where(row, values)
                continue
            value = row.value(values, where)
            if value is None:
                data[name] = None
            elif kind is type(value):  # what the field would answer is the value itself (see _kind)
                data[name] = value
            elif kind == "id":  # a related record's id reaches the field as DRF's get_attribute hands it over
                data[name] = field.to_representation(relations.PKOnlyObject(value))
            elif kind == "datetime" and tz is not None and value.utcoffset() is not None:
                data[name] = _iso(value, tz, field)
            else:
                data[name] = field.to_representation(value)
        return data

    def column_representers(self, row: ConvertedRow, tz) -> list[tuple[str, int, Callable | None, bool]]:
        """What build() does to each field, for a whole column at once (the values of many rows read by the ORM: see
        ConvertedRow), for callers that build many records (apicore.export): (name, the column's index, a function
        from the column's values to their representations, or None where each value is its own representation,
        whether every representation is a str, int, bool or None). Only for a serializer without nested serializers
        or aggregates (else Unsupported)."""
        if tz is not None and getattr(tz, "key", None) in UTC_NAMES:
            tz = datetime.UTC  # the same offset, always 0: the same text, without a time zone database lookup
        representers = []
        for name, kind, where, field in self.steps:
            if kind in ("nested", "aggregates"):
                raise Unsupported(f"{name}: a nested serializer or aggregates")
            representers.append((name, where, *_column_representer(kind, field, row.fields[where], tz)))
        return representers


# DRF fields whose to_representation answers a value of the given type as it is: str() of a str, int() of an int,
# a bool for a bool, the value itself for a JSON field that is not `binary`.
SAME = {
    serializers.CharField.to_representation: str,
    serializers.IntegerField.to_representation: int,
    serializers.BooleanField.to_representation: bool,
}


def _kind(field):
    """How the read path represents a column for `field`: a type whose values the field answers unchanged, "id"
    (a related record's id), "datetime" (DRF's ISO 8601 date-time in the current time zone, see _iso), or "drf"
    (the field's own to_representation)."""
    represent = type(field).to_representation
    if isinstance(field, relations.PrimaryKeyRelatedField):
        return "id"
    if represent in SAME:
        return SAME[represent]
    if represent is serializers.JSONField.to_representation and not field.binary:
        return dict  # a JSON object column (JSONObjectField); any other value goes through the field
    if (
        represent is serializers.DateTimeField.to_representation
        and not hasattr(field, "timezone")
        and getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601
    ):
        return "datetime"
    return "drf"


# The model fields whose values the ORM answers as exactly this type (for a field without a from_db_value of its own).
ORM_TYPES = {str: (models.CharField, models.TextField), int: (models.IntegerField,), bool: (models.BooleanField,)}
UTC_NAMES = frozenset({"UTC", "Etc/UTC"})
TZINFO = operator.attrgetter("tzinfo")


def _column_representer(kind, field, model_field, tz) -> tuple[Callable | None, bool]:
    """build()'s representation of the values of a column of `model_field` as the ORM reads them, as one function of
    the whole column (None: each value is its own representation), and whether each representation is a scalar (a
    str, int, bool or None: no float, no container). Knowing the values' type (the ORM's for the model field) decides
    a column once: DRF's to_representation of such a value is the value itself (a str of a CharField, an int, a bool,
    a related id, a JSON value, a string choice), or ISO 8601 text, which orjson writes for a whole column as DRF does
    (UTC date-times, dates; tests/customers/test_export.py compares them)."""
    plain = not hasattr(model_field, "from_db_value")
    represent = type(field).to_representation
    if kind == "id":  # the related record's id (PrimaryKeyRelatedField without pk_field)
        target = getattr(model_field, "target_field", model_field)
        return None, not hasattr(target, "from_db_value") and isinstance(target, ORM_TYPES[int] + ORM_TYPES[str])
    if kind is dict:
        return None, False  # JSON as it is (see _kind)
    if isinstance(kind, type):  # DRF's str(), int() or bool answer of anything else
        if plain and isinstance(model_field, ORM_TYPES.get(kind, ())):
            return None, True
        return _each(lambda value: value if type(value) is kind else field.to_representation(value)), True
    if kind == "datetime" and tz is datetime.UTC:
        return (lambda values: _utc_iso_column(values, field)), True
    if kind == "datetime" and tz is not None:
        return _each(
            lambda value: _iso(value, tz, field) if value.utcoffset() is not None else field.to_representation(value)
        ), True
    if (
        plain
        and represent is serializers.BigIntegerField.to_representation
        and isinstance(model_field, models.IntegerField)
    ):
        if not getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING):
            return None, True  # int(value) of an int
    if plain and represent is serializers.ChoiceField.to_representation and isinstance(model_field, ORM_TYPES[str]):
        if all(isinstance(choice, str) for choice in field.choice_strings_to_values.values()):
            return None, True  # a str maps to the choice it spells, which is itself, or stays as it is
    if (
        plain
        and represent is serializers.DateField.to_representation
        and isinstance(model_field, models.DateField)
        and not isinstance(model_field, models.DateTimeField)
        and str(getattr(field, "format", api_settings.DATE_FORMAT)).lower() == ISO_8601
    ):
        return (lambda values: _iso_date_column(values, field)), True
    return _each(field.to_representation), False


def _each(represent: Callable) -> Callable:
    """A column's representation value by value; None stays None."""
    return lambda values: [None if value is None else represent(value) for value in values]


def _utc_iso_column(values, field) -> list:
    """DRF's ISO 8601 text (in UTC, `Z`) of each date-time, written by orjson for the whole column: the same text, in
    one call. A value that is not in UTC (the ORM reads every one in UTC with USE_TZ) sends the column through _iso."""
    if set(map(TZINFO, filter(None, values))) <= {datetime.UTC}:
        with contextlib.suppress(orjson.JSONEncodeError):
            return orjson.loads(orjson.dumps(values, option=orjson.OPT_UTC_Z))
    return [None if value is None else _iso(value, datetime.UTC, field) if value.utcoffset() is not None
            else field.to_representation(value) for value in values]  # fmt: skip


def _iso_date_column(values, field) -> list:
    """DRF's ISO 8601 text of each date (`value.isoformat()`), written by orjson for the whole column."""
    if set(map(type, filter(None, values))) <= {datetime.date}:
        with contextlib.suppress(orjson.JSONEncodeError):
            return orjson.loads(orjson.dumps(values))
    return [None if value is None else field.to_representation(value) for value in values]


def _iso(value: datetime.datetime, tz, field) -> str:
    """DRF's DateTimeField.to_representation (ISO 8601) of an aware date-time in the current time zone `tz`."""
    try:
        text = value.astimezone(tz).isoformat()
    except OverflowError:
        return field.to_representation(value)  # DRF's error
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def current_timezone():
    return timezone.get_current_timezone() if settings.USE_TZ else None


def permission_sql(user: str, permission: str) -> str:
    """Whether the user `user` (an alias of the user table) holds `app_label.codename`: superusers hold every
    permission, others their own and their groups' (Django's ModelBackend)."""
    app_label, codename = permission.split(".", 1)
    if not re.fullmatch(r"[a-z0-9_]+", app_label + codename):
        raise Unsupported(f"a permission named {permission!r}")
    user_model = get_user_model()
    user_perms = user_model._meta.get_field("user_permissions").remote_field.through._meta.db_table
    user_groups = user_model._meta.get_field("groups").remote_field.through._meta.db_table
    group_perms = Group._meta.get_field("permissions").remote_field.through._meta.db_table
    named = (
        f"JOIN {q(Permission._meta.db_table)} p ON p.id = x.permission_id "
        f"JOIN {q(ContentType._meta.db_table)} ct ON ct.id = p.content_type_id "
        f"WHERE p.codename = '{codename}' AND ct.app_label = '{app_label}'"
    )
    return (
        f"({user}.is_superuser"
        f" OR EXISTS (SELECT 1 FROM {q(user_perms)} x {named} AND x.user_id = {user}.id)"
        f" OR EXISTS (SELECT 1 FROM {q(user_groups)} g JOIN {q(group_perms)} x ON x.group_id = g.group_id"
        f" {named} AND g.user_id = {user}.id))"
    )


def _view(view_class, action: str, initkwargs: dict, actions: dict):
    """The view instance DRF's ViewSetMixin.as_view makes for `action`, before a request reaches it."""
    view = view_class(**initkwargs)
    actions = dict(actions)
    if "get" in actions and "head" not in actions:
        actions["head"] = actions["get"]
    view.action_map = actions
    for method, name in actions.items():
        setattr(view, method, getattr(view, name))
    view.action, view.kwargs, view.args, view.request, view.format_kwarg = action, {}, (), None, None
    return view


class Action:
    """What the read path needs of one view action, worked out once: the view's model, representation, scope and
    permission, and the statement's authentication and permission part."""

    def __init__(self, view_class, action: str, initkwargs: dict, actions: dict):
        view = _view(view_class, action, initkwargs, actions)
        self.name = f"{view_class.__name__}.{action}"
        if (
            list(view.authentication_classes) != list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
            or list(view.permission_classes) != list(api_settings.DEFAULT_PERMISSION_CLASSES)
            or list(view.throttle_classes) != [throttling.TokenRateThrottle]
            or list(view.renderer_classes) != [JSONRenderer]
        ):
            raise Unsupported(f"{self.name}: not the shared authentication, permission, throttle and renderer")
        self.view = view
        self.model = view.queryset.model
        self.opts = self.model._meta
        (permission,) = view.permission_classes[0]().get_required_permissions("GET", self.model)
        self.allow = ", ".join(view.allowed_methods)
        self.row, self.joins = Row(), []
        self.representation = Representation(view.get_serializer_class()(), "r", self.row, self.joins)
        self.scope = {kwarg: self.opts.get_field(name) for kwarg, name in getattr(view, "scope", {}).items()}
        token, user = get_token_model()._meta.db_table, get_user_model()._meta.db_table
        self.auth_sql = (
            f"SELECT t.digest, {permission_sql('u', permission)} AS allowed"
            f" FROM {q(token)} t JOIN {q(user)} u ON u.id = t.user_id"
            " WHERE t.token_key = %s AND t.digest = %s AND u.is_active AND (t.expiry IS NULL OR t.expiry > now())"
        )

    def column(self, field) -> str:
        return f"r.{q(field.column)}"

    def field(self, name: str):
        return self.opts.pk if name == "pk" else self.opts.get_field(name)

    def scope_arguments(self, kwargs: dict) -> list[int]:
        return [_id(kwargs.get(kwarg)) for kwarg in self.scope]


def form_value(filter_, params: QueryDict, name: str):
    """The value of the query string's `name` as django-filter's form reads it for `filter_`: its widget takes it
    from the query string (a comma-separated list for an `__in`), its form field cleans it."""
    field = filter_.field
    try:
        return field.clean(field.widget.value_from_datadict(params, {}, name))
    except forms.ValidationError:
        raise Declined(f"{name}: invalid") from None


def _id(text) -> int:
    """An id from the URL or the query string, as the ORM reads an integer primary key; else Django answers."""
    if not isinstance(text, str) or not DIGITS.fullmatch(text) or int(text) > BIGINT_MAX:
        raise Declined("not an id")
    return int(text)


class RecordAction(Action):
    """One record ("retrieve"): one statement per view action."""

    def __init__(self, *args):
        super().__init__(*args)
        if self.view.lookup_field != "pk":
            raise Unsupported(f"{self.name}: looked up by {self.view.lookup_field}")
        self.lookup = self.view.lookup_url_kwarg or self.view.lookup_field
        conditions = [f"r.{q(self.opts.pk.column)} = %s::bigint"]
        conditions += [f"{self.column(field)} = %s::bigint" for field in self.scope.values()]
        self.sql = (
            f"WITH auth AS ({self.auth_sql}) SELECT a.digest, a.allowed, {', '.join(self.row.sql)}"
            f" FROM auth a LEFT JOIN {q(self.opts.db_table)} r ON a.allowed AND {' AND '.join(conditions)}"
            f"{''.join(f' {join}' for join in self.joins)}"
        )

    def statement(self, request, match, token_params: list) -> tuple[str, list, None]:
        if request.GET:  # a record's GET applies the list's filters too (DRF's get_object)
            raise Declined("a query string on a record")
        arguments = [*token_params, _id(match.kwargs.get(self.lookup)), *self.scope_arguments(match.kwargs)]
        return self.sql, arguments, None

    def answer(self, request, rows: list[tuple], renderer, context) -> tuple[int, dict, bytes] | None:
        values = rows[0] if rows else None
        if values is None or not values[1]:
            return None
        data = self.representation.build(self.row, values[2:], current_timezone())
        if data is None:  # no such record: Django's 404
            return None
        body = renderer.render(data)
        tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'  # apicore.conditional.etag of the same bytes
        try:
            outcome = conditional.evaluate(request, tag) if "HTTP_IF_NONE_MATCH" in request.META else None
        except ParseError:  # a malformed If-None-Match: DRF's 400
            return None
        if outcome == 304:
            return 304, {"ETag": tag, "Allow": self.allow}, b""
        if outcome is not None:
            return None
        return 200, {"Content-Type": "application/json", "ETag": tag, "Allow": self.allow}, body


class Condition:
    """One filter as SQL: the predicate with `%s` for its values, and how to write it with its values in.

    `probe` is what the probe of the matches adds to it so that an index serves it in a generic plan (a prefix's
    bounds); `custom` says that no generic plan serves it well (a prefix without bounds): its statement is then
    planned for each request. `ordered_by` names a range's column: the probe reads the range in its order. `bitmap`
    says that only a GIN index serves it (JSON containment, a trigram `icontains`), which reads every match first.
    """

    def __init__(self, predicate: str, values: list, probe=None, custom=False, ordered_by=None, bitmap=False):
        self.predicate, self.values = predicate, values
        self.probe, self.custom, self.ordered_by, self.bitmap = probe, custom, ordered_by, bitmap

    def literal(self) -> str:
        # psycopg's default adapters: those of Django's connections differ in loaders and ranges' dumper only.
        return sql.SQL(self.predicate.replace("%s", "{}")).format(*map(sql.Literal, self.values)).as_string()


RANGES = {"gt", "gte", "lt", "lte"}
# The probe reads at most this many matches through the filters' own indexes. Fewer: they are every match, sorted
# and paged here. As many: the filters are broad, and walking the list's order meets a page of matches soon.
PROBE = 1000
# A filter only a GIN index serves is probed only when the planner expects at most this many matches.
BITMAP_PROBE = 10 * PROBE


def prefix(column: str, value: str) -> Condition:
    """`istartswith` (Django's LIKE), and for the probe the prefix's bounds, which the text_pattern_ops index on
    UPPER(column) serves with a parameter (a LIKE with a parameter is planned as a walk of every row). Bounds are
    exact for ASCII letters, which PostgreSQL's and Python's upper() fold alike; other prefixes are planned per
    request."""
    condition = Condition(LOOKUPS["istartswith"].format(col=column), [f"{like_escaped(value)}%"])
    if value and value.isascii() and value.upper()[-1] < "\x7f":
        low = value.upper()
        high = low[:-1] + chr(ord(low[-1]) + 1)
        condition.probe = Condition(f"UPPER({column}::text) ~>=~ %s AND UPPER({column}::text) ~<~ %s", [low, high])
    else:
        condition.custom = True
    return condition


class ListAction(Action):
    """A page of a list: one statement per shape (the filters a request names and its sort)."""

    def __init__(self, *args):
        super().__init__(*args)
        view = self.view
        if view.pagination_class is not Pagination:
            raise Unsupported(f"{self.name}: not the shared pagination")
        if list(view.filter_backends) != [filters.FilterBackend]:
            raise Unsupported(f"{self.name}: not the shared filter backend")
        self.filterset = getattr(view, "filterset_class", None)
        self.sort = self.filterset.base_filters.get("sort") if self.filterset else None
        self.json_fields = tuple(getattr(self.filterset.Meta, "json_fields", ())) if self.filterset else ()
        self.shapes: dict[tuple, str] = {}
        for name, filter_ in self.filterset.base_filters.items() if self.filterset else ():
            if filter_ is not self.sort:
                self._check_filter(name, filter_)

    def _check_filter(self, name: str, filter_) -> None:
        if filter_.method is not None or filter_.exclude or filter_.distinct:
            raise Unsupported(f"{self.name}: filter {name} has a method, excludes or is distinct")
        self.field(filter_.field_name)
        if not isinstance(filter_, filters.DateOfDateTimeFilter) and filter_.lookup_expr not in LOOKUPS:
            raise Unsupported(f"{self.name}: filter {name} looks up {filter_.lookup_expr}")

    def conditions(self, params: QueryDict) -> tuple[list[Condition], list[tuple[type, int]], tuple]:
        """The filters the query string names, as conditions; the records a chosen one must exist (the id of a
        ModelChoiceFilter: django-filter checks it with a query); and the shape they make."""
        conditions, records, shape = [], [], []
        base = self.filterset.base_filters if self.filterset else {}
        for name, filter_ in base.items():
            if filter_ is self.sort or name not in params:
                continue
            raw = params.get(name)
            field = self.field(filter_.field_name)
            column = self.column(field)
            if isinstance(filter_, django_filters.ModelChoiceFilter):
                if raw in EMPTY_VALUES:
                    continue
                value = _id(raw)
                records.append((field.related_model, value))
                conditions.append(Condition(f"{column} = %s::bigint", [value]))
                shape.append(name)
                continue
            value = form_value(filter_, params, name)
            if value in EMPTY_VALUES:
                continue
            shape.append(name)
            if isinstance(filter_, filters.DateOfDateTimeFilter):
                bounds = filter_.bounds(value)
                if bounds is None:
                    conditions.append(Condition("false", []))
                for lookup, bound in bounds or ():
                    if lookup == "isnull":
                        conditions.append(Condition(f"{column} IS {'' if bound else 'NOT '}NULL", []))
                    else:
                        conditions.append(Condition(LOOKUPS[lookup].format(col=column), [bound], ordered_by=column))
                continue
            lookup = filter_.lookup_expr
            if lookup in RANGES and field is not self.opts.pk:
                conditions.append(Condition(LOOKUPS[lookup].format(col=column), [value], ordered_by=column))
                continue
            if lookup == "exact" and isinstance(field, models.BooleanField):
                conditions.append(Condition(column if value else f"NOT {column}", []))  # Django's SQL for it
            elif lookup == "istartswith":
                conditions.append(prefix(column, value))
            elif lookup == "icontains":
                conditions.append(
                    Condition(LOOKUPS[lookup].format(col=column), [f"%{like_escaped(value)}%"], bitmap=True)
                )
            else:
                conditions.append(Condition(LOOKUPS[lookup].format(col=column), [list(value) if lookup == "in" else
                                                                                 value]))  # fmt: skip
        for param in params:
            field_name = param.split("__", 1)[0]
            if field_name in self.json_fields and param.startswith(f"{field_name}__"):
                try:
                    path = filters.json_key_path(field_name, param)
                except Exception:
                    raise Declined(f"{param}: invalid") from None
                spellings = filters.spelled_values(params[param])
                column = self.column(self.opts.get_field(field_name))
                predicate = " OR ".join([f"{column} @> %s"] * len(spellings))
                values = [Jsonb(filters.json_containment(path, spelling)) for spelling in spellings]
                conditions.append(Condition(f"({predicate})" if len(spellings) > 1 else predicate, values, bitmap=True))
                shape.append(("json", field_name, len(spellings)))
        return conditions, records, tuple(shape)

    def ordering(self, params: QueryDict) -> list[tuple[models.Field, bool]]:
        """(field, descending) in order: the sort's, then the id, or the view's ordering (its queryset's)."""
        terms = form_value(self.sort, params, "sort") if self.sort is not None else None
        if terms in EMPTY_VALUES:
            terms = list(self.view.queryset.query.order_by) or list(self.opts.ordering)
        else:
            terms = [self.sort.get_ordering_value(term) for term in terms if term not in EMPTY_VALUES] + ["pk"]
        ordering = []
        for term in terms:
            descending = term.startswith("-")
            name = term.lstrip("-")
            ordering.append((self.field(name), descending))
        return ordering

    def statement(self, request, match, token_params: list):
        params = request.GET
        if any("\x00" in name or any("\x00" in value for value in params.getlist(name)) for name in params):
            raise Declined("a NUL character")
        if "format" in params:
            raise Declined("a format")
        try:
            size = Pagination().get_page_size(Request(request))
        except ValidationError:
            raise Declined("limit: invalid") from None
        page = params.get(Pagination.page_query_param, "1")
        if not DIGITS.fullmatch(page) or int(page) < 1:
            raise Declined("page: not a page number")
        number = int(page)
        offset = (number - 1) * size
        if offset > BIGINT_MAX - size:
            raise Declined("page: past any list")
        conditions, records, shape = self.conditions(params)
        ordering = self.ordering(params)
        scope = self.scope_arguments(match.kwargs)
        key = (shape, tuple((field.name, descending) for field, descending in ordering))
        statement = self.shapes.get(key)
        if statement is None:
            statement = self.shapes[key] = self._statement(conditions, records, ordering)
        matching = self._matching(conditions, scope)
        values = [value for condition in conditions for value in condition.values]
        # In the order of the statement's placeholders (ListAction._statement).
        if conditions:
            probe = [value for condition in conditions if condition.probe for value in condition.probe.values]
            estimate = [matching] if any(condition.bitmap for condition in conditions) else []
            page = [*estimate, *scope, *values, *probe, size + 1, offset, *scope, *values, size + 1, offset]
        else:
            page = [*scope, size + 1, offset]
        arguments = [
            *token_params,
            *page,
            matching,
            settings.OMNITRON_EXACT_COUNT_LIMIT,
            size,
            *scope,
            *(pk for _, pk in records),
        ]
        custom = any(condition.custom for condition in conditions)
        return statement, arguments, (number, size, offset, len(self.scope) + len(records), custom)

    def _matching(self, conditions: list[Condition], scope: list[int]) -> str:
        """The rows the list shows, as SQL with its values written in, for the planner's estimate and the count."""
        where = [f"{self.column(field)} = {int(pk)}" for field, pk in zip(self.scope.values(), scope, strict=True)]
        where += [condition.literal() for condition in conditions]
        return f"SELECT r.{q(self.opts.pk.column)} FROM {q(self.opts.db_table)} r" + (
            f" WHERE {' AND '.join(where)}" if where else ""
        )

    def _statement(self, conditions: list[Condition], records: list, ordering: list) -> str:
        """The statement of a shape. Its placeholders, in order: the token (2); with filters, the probe's scope and
        filters (and their probe bounds), then each branch's scope and filters, size and offset; without, the
        scope, size and offset; the count's (3); the existence checks (ListAction.arguments)."""
        exists = [
            f"EXISTS (SELECT 1 FROM {q(field.related_model._meta.db_table)} WHERE id = %s::bigint)"
            for field in self.scope.values()
        ]
        exists += [f"EXISTS (SELECT 1 FROM {q(model._meta.db_table)} WHERE id = %s::bigint)" for model, _ in records]
        scope = [f"{self.column(field)} = %s::bigint" for field in self.scope.values()]
        matching = [*scope, *(condition.predicate for condition in conditions)]
        sort_columns = [self.column(field) for field, _ in ordering]
        directions = ["DESC" if descending else "ASC" for _, descending in ordering]
        order = ", ".join(f"{column} {direction}" for column, direction in zip(sort_columns, directions, strict=True))
        final_order = ", ".join(f"p.s{n} {direction}" for n, direction in enumerate(directions))
        table = f"{q(self.opts.db_table)} r"
        select = (
            f"SELECT {', '.join(self.row.sql)}, "
            + ", ".join(f"{column} AS s{n}" for n, column in enumerate(sort_columns))
            + f" FROM {table}{''.join(f' {join}' for join in self.joins)}"
        )
        allowed = "(SELECT allowed FROM auth)"
        pk = f"r.{q(self.opts.pk.column)}"
        if conditions:
            # The probe: at most PROBE matches, read through the filters' indexes (a range in its own order). A
            # filter only a GIN index serves is probed when the planner expects few matches: that index reads every
            # match of the value first (142,000 for a common colour: 60 ms), where walking the order meets a page.
            probed = [*matching, *(condition.probe.predicate for condition in conditions if condition.probe)]
            ordered_by = next((condition.ordered_by for condition in conditions if condition.ordered_by), None)
            estimate = ""
            if any(condition.bitmap for condition in conditions):
                estimate = " estimate AS MATERIALIZED (SELECT omnitron_estimate(%s) AS n),"
                probed.append(f"(SELECT n FROM estimate) <= {BITMAP_PROBE}")
            few = (
                f"{estimate} few AS MATERIALIZED (SELECT {pk} AS id FROM {table} WHERE {allowed} AND"
                f" {' AND '.join(probed)}" + (f" ORDER BY {ordered_by}" if ordered_by else "") + f" LIMIT {PROBE}),"
            )
            # Fewer than PROBE found, and probed: every match. Else many: the page's ids first (an index holding the
            # id with a filtered column, such as customers' (id) INCLUDE (created_date, date_joined), walks them
            # without reading rows), then its rows.
            probed_all = f"(SELECT count(*) FROM few) < {PROBE}"
            if estimate:
                probed_all = f"({probed_all} AND (SELECT n FROM estimate) <= {BITMAP_PROBE})"
            page = (
                f" page AS (({select} WHERE {allowed} AND {pk} IN (SELECT id FROM few)"
                f" AND {probed_all} ORDER BY {order} LIMIT %s OFFSET %s)"
                f" UNION ALL ({select} WHERE {allowed} AND NOT {probed_all}"
                f" AND {pk} = ANY(ARRAY(SELECT {pk} FROM {table} WHERE {' AND '.join(matching)}"
                f" ORDER BY {order} LIMIT %s OFFSET %s)) ORDER BY {order})),"
            )
        else:
            few = ""
            page = (
                f" page AS ({select} WHERE {' AND '.join([allowed, *matching])} ORDER BY {order} LIMIT %s OFFSET %s),"
            )
        return (
            f"WITH auth AS ({self.auth_sql}),{few}{page}"
            " total AS MATERIALIZED (SELECT * FROM omnitron_list_count(%s, %s::bigint)"
            " WHERE (SELECT count(*) FROM page) > %s)"
            " SELECT a.digest, a.allowed, (SELECT total FROM total), (SELECT estimated FROM total)"
            + "".join(f", {check}" for check in exists)
            + f", p.* FROM auth a LEFT JOIN page p ON true ORDER BY {final_order}"
        )

    def answer(self, request, rows: list[tuple], renderer, context) -> tuple[int, dict, bytes] | None:
        number, size, offset, checks, _ = context
        if not rows or not rows[0][1]:
            return None
        # Each row: the token's digest, whether it may read, the total and whether it is estimated, the existence
        # checks (scope records, records filters name), then the page's record.
        first, start = rows[0], 4 + checks
        if not all(first[4:start]):
            return None  # a scope record or a chosen record does not exist: Django's 404 or 400
        tz = current_timezone()
        # The row past the page only tells that a next page exists.
        records = [record for record in (self.representation.build(self.row, row[start:], tz) for row in rows[:size])
                   if record]  # fmt: skip
        if not records and number > 1:
            return None  # a page past the end: Django's 404
        has_more = len(rows) > size
        paginator = EstimatingPaginator([], size)
        if has_more:  # counted (apicore.pagination's rule), and at least the rows read
            paginator.count, paginator.estimated = max(first[2], offset + len(rows)), first[3]
        else:  # the last page: its rows are the rest
            paginator.count, paginator.estimated = offset + len(records), False
        pagination = Pagination()
        pagination.request = request
        pagination.page = ProbedPage(records, number, paginator, has_more=has_more)
        response = pagination.get_paginated_response(records)
        headers = {**dict(response.items()), "Content-Type": "application/json", "Allow": self.allow}
        return 200, headers, renderer.render(response.data)


class Plan(NamedTuple):
    """A request the read path answers, and the statement that reads its answer."""

    request: WSGIRequest
    action: Action
    digest: str
    statement: str
    arguments: list
    context: tuple | None
    prepare: bool  # a server-side prepared statement, planned once per connection


class ReadPath:
    """The WSGI application: answers what it can (see the module's docstring) and hands the rest to `app`."""

    def __init__(self, app):
        self.app = app
        self.actions: dict[tuple, Action | None] = {}
        self.renderer = JSONRenderer()
        self._enabled = None

    def enabled(self) -> bool:
        if self._enabled is None:
            self._enabled = (
                settings.OMNITRON_READ_PATH
                and connections["default"].vendor == "postgresql"
                and not knox_settings.AUTO_REFRESH
            )
        return self._enabled

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET":
            answer = self.answer(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.app(environ, start_response)

    def action(self, match) -> Action | None:
        view_class = getattr(match.func, "cls", None)
        actions = getattr(match.func, "actions", None) or {}
        name = actions.get("get")
        key = (view_class, name)
        if key not in self.actions:
            self.actions[key] = None
            kind = getattr(view_class, "read_actions", {}).get(name)
            if kind is not None:
                try:
                    cls = {"retrieve": RecordAction, "list": ListAction}[kind]
                    self.actions[key] = cls(view_class, name, match.func.initkwargs, actions)
                except Unsupported as reason:
                    logger.info("read path: answered by Django: %s", reason)
        return self.actions[key]

    def answer(self, environ) -> tuple | None:
        """(status line, headers, body) for a request the read path answers, else None."""
        plan = self.plan(environ)
        if plan is None:
            return None
        rows = self._execute(plan.statement, plan.arguments, plan.prepare)
        return None if rows is None else self.finish(plan, rows)

    def plan(self, environ) -> "Plan | None":
        """The statement that answers the request, or None: Django answers it. Reads nothing."""
        if not self.enabled() or (
            environ.get("CONTENT_LENGTH") not in (None, "", "0")
            or "HTTP_TRANSFER_ENCODING" in environ
            or environ.get("HTTP_ACCEPT", "*/*") not in JSON_ACCEPTED
            or any(key.startswith("HTTP_") and key not in NEUTRAL_HEADERS for key in environ)
        ):
            return None
        authorization = AUTHORIZATION.fullmatch(environ.get("HTTP_AUTHORIZATION", ""))
        if authorization is None or not TOKEN_RE.fullmatch(authorization[1].encode()):
            return None
        try:
            match = resolve(environ.get("PATH_INFO", ""))
        except Resolver404:
            return None
        action = self.action(match)
        if action is None:
            return None
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS, as Django checks it
        except DisallowedHost:
            return None
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return None
        token = authorization[1]
        digest = hash_token(token)
        try:
            statement, arguments, context = action.statement(
                request, match, [token[: CONSTANTS.TOKEN_KEY_LENGTH], digest]
            )
        except Declined:
            return None
        # A shape no generic plan serves well is planned for its values (ListAction.conditions).
        prepare = not (context and context[-1])
        return Plan(request, action, digest, statement, arguments, context, prepare)

    def finish(self, plan: "Plan", rows: list[tuple]) -> tuple | None:
        """The answer built from the statement's rows, or None: Django answers the request."""
        answer = plan.action.answer(plan.request, rows, self.renderer, plan.context)
        if answer is None:
            return None
        status, headers, body = answer
        return self._respond(plan.request, plan.digest, status, headers, body)

    def _execute(self, statement: str, arguments: list, prepare: bool) -> list[tuple] | None:
        """The statement's rows, on the thread's Django connection; None after a database error.

        The connection stays with the thread between the read path's requests (Django's request signals, which
        would return it to the pool each time, are not sent: taking it back cost a fifth of a record's read); the
        thread's next Django request returns it as usual. So a server holds at most one connection per thread.
        """
        connection = connections["default"]
        try:
            connection.ensure_connection()
            # Outside a transaction (every request of the server: autocommit), a failed statement leaves nothing
            # behind; inside one (a test's), psycopg's savepoint keeps the transaction usable for Django after it.
            raw = connection.connection
            with raw.transaction() if connection.in_atomic_block else contextlib.nullcontext():
                with psycopg.Cursor(raw) as cursor:
                    cursor.execute(statement, arguments, prepare=prepare)
                    return cursor.fetchall()
        except (psycopg.Error, DatabaseErrors) as error:  # unreachable (pool timeout), broken, or a failed statement
            logger.info("read path: a database error, handed to Django: %s", error)
            if not connection.in_atomic_block:
                connection.close()  # back to the pool, which discards a broken one; Django answers with a fresh one
            return None

    def _respond(self, request, digest: str, status: int, headers: dict, body: bytes) -> tuple | None:
        """The answer with what the rate limit and Django's middleware add to it; None over the limit (DRF answers
        the 429, and counts the request once more: over the limit either way)."""
        usage = throttling.token_usage(digest)
        if usage is not None:
            if usage.exceeded:
                return None
            headers.update(usage.headers())
        headers["Content-Length"] = str(len(body))
        headers.update(middleware_headers(request))
        return STATUS_LINES[status], list(headers.items()), body


def middleware_headers(request) -> dict[str, str]:
    """What Django's SecurityMiddleware and XFrameOptionsMiddleware and the request id add to an API response."""
    headers = {}
    if settings.SECURE_HSTS_SECONDS and request.is_secure():
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        headers["Strict-Transport-Security"] = value
    headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS.upper()
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers["Referrer-Policy"] = policy if isinstance(policy, str) else ",".join(policy)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    headers["X-Request-ID"] = request_id(request.META)  # apicore.middleware.RequestIDMiddleware
    return headers


class LoopReader:
    """The read path on an asyncio event loop (omnitron serve's granian worker): each answer is planned, read and
    built on the loop itself, with connections of its own, so a hot GET costs no hand-off to a thread and back.

    Measured on 1M customers (retrieve, 4 clients, 2 cores): a thread hand-off per request, with Django's pooled
    connection, served 2,000-2,090 requests/s; answered on the loop, 3,100 (docs/decisions.md). Planning and
    building run as they do in ReadPath.answer, in one context for every request of the loop (Django's caches and
    connections are per context: one per request would open a cache client per request). What the read path
    declines, `answer` returns None for, and Django answers it in a thread as usual.

    At most `size` connections, opened when first needed, autocommit, with the settings Django's have (its
    parameters, adapters, time zone and role): rows read here are the rows Django's connection reads. psycopg_pool's
    AsyncConnectionPool cost 18% of the requests/s here (its per-request bookkeeping and locks); a free list is all a
    single loop needs. A connection that fails is closed and replaced on a later request.
    """

    APPLICATION_NAME = "omnitron read path"

    def __init__(self, read_path: ReadPath, size: int):
        self.read_path = read_path
        self.size = size
        self.opened = 0
        self.idle: asyncio.Queue = asyncio.LifoQueue()
        self.context = contextvars.copy_context()
        self.django = self.context.run(connections.__getitem__, "default")  # for its settings; never connected
        self.timeout = settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {}).get("timeout", 5)

    async def answer(self, environ) -> tuple | None:
        """(status line, headers, body), as ReadPath.answer, or None: Django answers the request."""
        plan = self.context.run(self.read_path.plan, environ)
        if plan is None:
            return None
        rows = await self.fetch(plan.statement, plan.arguments, plan.prepare)
        return None if rows is None else self.context.run(self.read_path.finish, plan, rows)

    async def fetch(self, statement: str, arguments: list, prepare: bool) -> list[tuple] | None:
        try:
            async with asyncio.timeout(self.timeout):
                connection = await self.acquire()
        except (TimeoutError, psycopg.Error) as error:
            logger.info("read path: no connection, handed to Django: %s", error)
            return None
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(statement, arguments, prepare=prepare)
                rows = await cursor.fetchall()
        except psycopg.Error as error:
            logger.info("read path: a database error, handed to Django: %s", error)
            await self.discard(connection)
            return None
        except BaseException:  # cancelled mid-statement (the client went away): the connection's state is unknown
            await self.discard(connection)
            raise
        self.idle.put_nowait(connection)
        return rows

    async def acquire(self) -> psycopg.AsyncConnection:
        connection = self.idle.get_nowait() if not self.idle.empty() else None
        if connection is None and self.opened >= self.size:
            connection = await self.idle.get()  # None: a discarded connection's place, to open again
        if connection is not None:
            return connection
        self.opened += 1
        try:
            return await self.connect()
        except BaseException:
            self.opened -= 1
            raise

    async def discard(self, connection) -> None:
        self.opened -= 1
        self.idle.put_nowait(None)  # a request waiting for a connection opens one in its place
        with contextlib.suppress(Exception):
            await connection.close()

    async def connect(self) -> psycopg.AsyncConnection:
        django = self.django
        params = self.context.run(django.get_connection_params)
        params.pop("cursor_factory", None)  # Django's are synchronous; the read path uses psycopg's own
        params.setdefault("application_name", self.APPLICATION_NAME)
        connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        try:
            # Django's init_connection_state: the session's time zone (which its timestamptz loader assumes), role.
            if django.timezone_name and connection.info.parameter_status("TimeZone") != django.timezone_name:
                await connection.execute(django.ops.set_time_zone_sql(), [django.timezone_name])
            if role := django.settings_dict["OPTIONS"].get("assume_role"):
                await connection.execute(django.ops.compose_sql("SET ROLE %s", [role]))
        except BaseException:
            await connection.close()
            raise
        return connection
