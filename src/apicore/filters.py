"""Query-string filtering shared by every list: strict values, date ranges, JSON-key lookups, `sort`."""

import datetime
import functools
import json
import math

import django_filters
from django import forms
from django.db import connections, models
from django.db.models import F, Func, Q, Value
from django.db.models.lookups import Exact, In
from django.utils import timezone
from django_filters.fields import BaseCSVField, IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.rest_framework import FilterSet as DRFFilterSet
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

__all__ = [
    "FilterBackend",
    "FilterSet",
    "IntegerInFilter",
    "SortFilter",
    "json_containment",
    "json_key_path",
    "spelled_values",
]

MAX_IN_VALUES = 1000
MAX_JSON_PATH_DEPTH = 8
BIGINT_MAX = 2**63 - 1


class StrictBooleanField(forms.Field):
    """`true`/`false`/`1`/`0`, any case. django-filter's widget maps anything else to "no filter"."""

    TRUE, FALSE = {"true", "1"}, {"false", "0"}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value.lower() in self.TRUE:
            return True
        if value.lower() in self.FALSE:
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, as UTC.

    Python accepts offsets up to ±23:59 but PostgreSQL only up to ±15:59, and SQLite's backend converts to UTC
    itself, overflowing at the ends of the calendar: converted here, an unrepresentable value is a 400.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None or timezone.is_naive(value):
            return value
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date/time between years 1 and 9999 in UTC.", code="overflow") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class BoundedCSVField(BaseCSVField):
    """A comma-separated list of at most MAX_IN_VALUES values.

    The count is checked on the whole list: a field's `validators` run on each value separately.
    """

    def clean(self, value):
        if value is not None and len(value) > MAX_IN_VALUES:
            raise forms.ValidationError(
                "Ensure at most %(limit_value)d values (got %(show_value)d).",
                code="max_length",
                params={"limit_value": MAX_IN_VALUES, "show_value": len(value)},
            )
        values = super().clean(value)
        if values is not None and None in values:  # `1,,2`: a blank member is no value
            raise forms.ValidationError("Enter a comma-separated list without blank values.", code="invalid")
        return values


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGINT_MAX})  # each id of the list
class IntegerInFilter(django_filters.BaseInFilter, IntegerFilter):
    """`pk__in=1,2,3`: at most MAX_IN_VALUES integers in the id range."""

    base_field_class = BoundedCSVField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


class DateOfDateTimeFilter(django_filters.DateFilter):
    """`created_date__date__gte=2024-01-31` as a range on the datetime column.

    The ORM's `__date` transform casts every row, so no index on the column can serve it;
    the same question asked as a half-open datetime range can.
    """

    def bounds(self, value: datetime.date) -> list[tuple[str, object]] | None:
        """The lookups on the datetime column that ask the same question of `value`; None when nothing matches.
        The read path (apicore.readpath) asks them too."""
        start = timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))
        try:
            end = start + datetime.timedelta(days=1)
        except OverflowError:  # the last representable day: nothing lies after it
            end = None
        op = self.lookup_expr.removeprefix("date").removeprefix("__") or "exact"
        if op == "gte":
            return [("gte", start)]
        if op == "lt":
            return [("lt", start)]
        if end is None:
            return {"exact": [("gte", start)], "gt": None, "lte": [("isnull", False)]}[op]  # lte: any date, not none
        return {"exact": [("gte", start), ("lt", end)], "gt": [("gte", end)], "lte": [("lt", end)]}[op]

    def filter(self, qs, value):
        if value is None:
            return qs
        bounds = self.bounds(value)
        if bounds is None:
            return qs.none()
        return qs.filter(**{f"{self.field_name}__{lookup}": bound for lookup, bound in bounds})


class SortFilter(django_filters.OrderingFilter):
    """`sort=-created_date,email`; the primary key always breaks ties, so pages never overlap."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        if value:
            qs = qs.order_by(*qs.query.order_by, "pk")
        return qs


def spelled_values(raw: str) -> list:
    """A query-string value compared with JSON: the string itself, and the number or boolean it spells."""
    values = [raw]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return values
    # An int is always finite (math.isfinite would overflow converting a huge one to float).
    if isinstance(parsed, bool | int) or (isinstance(parsed, float) and math.isfinite(parsed)):
        values.append(parsed)
    return values


class SQLiteJSONPath(Func):
    """SQLite's JSON_TYPE or JSON_EXTRACT of a JSON column at a key path.

    Every key names an object member, quoted (`$."0"`): the ORM's key lookups read an all-digit key as an array index.
    """

    def __init__(self, function: str, field: str, path: list[str], output_field):
        json_path = "$" + "".join(f".{json.dumps(key)}" for key in path)
        super().__init__(F(field), Value(json_path), function=function, output_field=output_field)


def _sqlite_json_match(field: str, path: list[str], value) -> Q:
    """The value at the key path equals `value`, JSON type included, as PostgreSQL's containment compares.

    The ORM's key lookups on SQLite answer a string "null", "[1]" or "{}" for a JSON null, array or object.
    """
    json_type = SQLiteJSONPath("JSON_TYPE", field, path, models.CharField())
    if isinstance(value, bool):
        return Q(Exact(json_type, "true" if value else "false"))
    if isinstance(value, str):
        text = SQLiteJSONPath("JSON_EXTRACT", field, path, models.TextField())
        return Q(Exact(json_type, "text"), Exact(text, value))
    if isinstance(value, int) and -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
        number = SQLiteJSONPath("JSON_EXTRACT", field, path, models.BigIntegerField())
    else:  # SQLite keeps other numbers as doubles
        try:
            value = float(value)
        except OverflowError:
            return Q(pk__in=[])
        number = SQLiteJSONPath("JSON_EXTRACT", field, path, models.FloatField())
    return Q(In(json_type, ["integer", "real"]), Exact(number, value))


class FilterSet(DRFFilterSet):
    """Base for every resource's filters.

    `Meta.json_fields` names JSON columns filterable by key: `attributes__size__eu=42` matches rows whose
    `attributes` hold {"size": {"eu": 42}} or {"size": {"eu": "42"}}. On PostgreSQL the lookup is a
    containment (`@>`), which a GIN jsonb_path_ops index serves.
    """

    FILTER_DEFAULTS = {
        **DRFFilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
        models.DateTimeField: {"filter_class": UTCDateTimeFilter},
    }

    @classmethod
    def names_a_filter(cls, param: str) -> bool:
        """Whether the query parameter `param` can reach a filter: it starts with a filter's name or names a JSON
        column's key."""
        return param.startswith(_filter_prefixes(cls))

    @classmethod
    def filter_for_field(cls, field, field_name, lookup_expr=None):
        if isinstance(field, models.DateTimeField) and (lookup_expr or "").split("__")[0] == "date":
            return DateOfDateTimeFilter(field_name=field_name, lookup_expr=lookup_expr)
        return super().filter_for_field(field, field_name, lookup_expr)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        for field in getattr(self.Meta, "json_fields", ()):
            prefix = f"{field}__"
            for param in self.data:
                if param.startswith(prefix):
                    queryset = queryset.filter(self._json_key_q(queryset, field, param, self.data[param]))
        return queryset

    @staticmethod
    def _json_key_q(queryset, field: str, param: str, raw: str) -> Q:
        path = json_key_path(field, param)
        containment = connections[queryset.db].vendor == "postgresql"
        query = Q()
        for value in spelled_values(raw):
            if containment:
                query |= Q(**{f"{field}__contains": json_containment(path, value)})
            else:  # SQLite has no JSON containment; compare the value at the key path.
                query |= _sqlite_json_match(field, path, value)
        return query


def json_key_path(field: str, param: str) -> list[str]:
    """The keys `attributes__size__eu` names in `attributes`; a 400 for an empty key or one nested too deep."""
    path = param.split("__")[1:]
    if not all(path) or len(path) > MAX_JSON_PATH_DEPTH:
        raise ValidationError(
            {param: [f"Name a key: {field}__<key>, nested at most {MAX_JSON_PATH_DEPTH} deep."]}, code="invalid"
        )
    return path


def json_containment(path: list[str], value) -> dict:
    """The JSON object holding `value` at the key path, for PostgreSQL's containment (`@>`)."""
    for key in reversed(path):
        value = {key: value}
    return value


@functools.cache
def _filter_prefixes(filterset_class: type[FilterSet]) -> tuple[str, ...]:
    """What a parameter naming one of the class's filters starts with (FilterSet.names_a_filter)."""
    json_keys = (f"{field}__" for field in getattr(filterset_class.Meta, "json_fields", ()))
    return (*filterset_class.base_filters, *json_keys)


class FilterBackend(DjangoFilterBackend):
    filterset_base = FilterSet  # for a view naming `filterset_fields` only

    def get_filterset_class(self, view, queryset=None):
        if getattr(view, "action", None) == "history":  # a record's history entries (ModelViewSet.history)
            return history_filterset(view.queryset.model)
        return super().get_filterset_class(view, queryset)

    def filter_queryset(self, request, queryset, view):
        for name, values in request.query_params.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise ValidationError({name: ["Null characters are not allowed."]}, code="null_characters_not_allowed")
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not any(map(filterset_class.names_a_filter, request.query_params)):
            # No parameter, only a page and its size, or parameters naming no filter (which DRF ignores): django-filter
            # would still build a form class, on every record's GET and every unfiltered page.
            return queryset
        return super().filter_queryset(request, queryset, view)


class HistoryFilterSet(FilterSet):
    """A record's history entries (apicore.history): those that changed `field`, made by `user`, or made within
    `created_date__gte` / `created_date__lte`. `history_filterset` makes one per tracked model."""

    # `field` (a ChoiceFilter of the model's tracked fields) is declared per model by history_filterset.
    user = IntegerFilter(field_name="history_user", min_value=1, max_value=BIGINT_MAX)
    created_date__gte = UTCDateTimeFilter(field_name="history_date", lookup_expr="gte")
    created_date__lte = UTCDateTimeFilter(field_name="history_date", lookup_expr="lte")

    def filter_field(self, queryset, name, value):
        return queryset.filter(changes__has_key=value)


@functools.cache
def history_filterset(model) -> type[HistoryFilterSet]:
    """The history filters of `model`: `field` takes the names of its tracked fields (anything else is a 400)."""
    from apicore.history import tracked_fields

    names = [(field.name, field.name) for field in tracked_fields(model)]
    meta = type("Meta", (), {"model": model.history.model, "fields": []})
    return type(
        f"{model.__name__}HistoryFilterSet",
        (HistoryFilterSet,),
        {"Meta": meta, "field": django_filters.ChoiceFilter(method="filter_field", choices=names)},
    )
