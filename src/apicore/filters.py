"""Query-string filtering shared by every list: strict values, date ranges, JSON-key lookups, `sort`."""

import datetime
import json
import math

import django_filters
from django import forms
from django.core.validators import MaxLengthValidator
from django.db import connections, models
from django.db.models import Q
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.rest_framework import FilterSet as DRFFilterSet
from rest_framework.exceptions import ValidationError

__all__ = ["FilterBackend", "FilterSet", "IntegerInFilter", "SortFilter"]

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


class IntegerInFilter(django_filters.BaseInFilter, IntegerFilter):
    """`pk__in=1,2,3`: at most MAX_IN_VALUES integers in the id range."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        kwargs.setdefault(
            "validators",
            [MaxLengthValidator(MAX_IN_VALUES, message="Ensure at most %(limit_value)d values (got %(show_value)d).")],
        )
        super().__init__(*args, **kwargs)


class DateOfDateTimeFilter(django_filters.DateFilter):
    """`created_date__date__gte=2024-01-31` as a range on the datetime column.

    The ORM's `__date` transform casts every row, so no index on the column can serve it;
    the same question asked as a half-open datetime range can.
    """

    def filter(self, qs, value):
        if value is None:
            return qs
        name = self.field_name
        start = timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))
        try:
            end = start + datetime.timedelta(days=1)
        except OverflowError:  # the last representable day: nothing lies after it
            end = None
        op = self.lookup_expr.removeprefix("date").removeprefix("__") or "exact"
        if op == "gte":
            return qs.filter(**{f"{name}__gte": start})
        if op == "lt":
            return qs.filter(**{f"{name}__lt": start})
        if end is None:
            return {"exact": qs.filter(**{f"{name}__gte": start}), "gt": qs.none(), "lte": qs}[op]
        return {
            "exact": qs.filter(**{f"{name}__gte": start, f"{name}__lt": end}),
            "gt": qs.filter(**{f"{name}__gte": end}),
            "lte": qs.filter(**{f"{name}__lt": end}),
        }[op]


class SortFilter(django_filters.OrderingFilter):
    """`sort=-created_date,email`; the primary key always breaks ties, so pages never overlap."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        if value:
            qs = qs.order_by(*qs.query.order_by, "pk")
        return qs


def _spelled_values(raw: str) -> list:
    """A query-string value compared with JSON: the string itself, and the number or boolean it spells."""
    values = [raw]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return values
    if isinstance(parsed, bool) or (isinstance(parsed, int | float) and math.isfinite(parsed)):
        values.append(parsed)
    return values


class FilterSet(DRFFilterSet):
    """Base for every resource's filters.

    `Meta.json_fields` names JSON columns filterable by key: `attributes__size__eu=42` matches rows whose
    `attributes` hold {"size": {"eu": 42}} or {"size": {"eu": "42"}}. On PostgreSQL the lookup is a
    containment (`@>`), which a GIN jsonb_path_ops index serves.
    """

    FILTER_DEFAULTS = {
        **DRFFilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }

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
        path = param.split("__")[1:]
        if not all(path) or len(path) > MAX_JSON_PATH_DEPTH:
            raise ValidationError(
                {param: [f"Name a key: {field}__<key>, nested at most {MAX_JSON_PATH_DEPTH} deep."]}, code="invalid"
            )
        containment = connections[queryset.db].vendor == "postgresql"
        query = Q()
        for value in _spelled_values(raw):
            if containment:
                for key in reversed(path):
                    value = {key: value}
                query |= Q(**{f"{field}__contains": value})
            else:  # SQLite has no JSON containment; compare the value at the key path.
                query |= Q(**{param: value})
        return query


class FilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        for name, values in request.query_params.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise ValidationError({name: ["Null characters are not allowed."]}, code="null_characters_not_allowed")
        return super().filter_queryset(request, queryset, view)
