"""Serializer policy shared by every resource: JSON objects, bounded and free of NUL characters; totals of
related records."""

import functools
import re
from collections.abc import Callable, Mapping

from django.contrib.auth import get_user_model
from django.db import models
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import ReturnDict

__all__ = [
    "ActiveUserSerializer",
    "JSONObjectField",
    "ModelSerializer",
    "RelatedTotals",
    "RelatedTotalsListSerializer",
    "TokenSerializer",
]

MAX_JSON_DEPTH = 32
DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")

# The JSON type each kind of field takes, checked before DRF's conversions: DRF would read 0 or "yes" as a boolean,
# 12 as the string "12" and "12" as a number, none of which the documented types allow. Money is a decimal string
# ("12.50") or a number. The first matching class decides.
JSON_TYPES = (
    (serializers.BooleanField, (bool,), "a boolean"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.PrimaryKeyRelatedField, (int,), "an integer id"),
    (serializers.DecimalField, (str, int, float), "a number or a decimal string"),
    (serializers.CharField, (str,), "a string"),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "a string"),
    (serializers.DateField, (str,), "a string"),
)


class JSONObjectField(serializers.JSONField):
    """A JSON object (never an array or scalar), nested at most MAX_JSON_DEPTH deep, without NUL characters.

    PostgreSQL's jsonb rejects "\\u0000"; checking here gives the same 400 on every database.
    """

    default_error_messages = {
        "not_an_object": "Must be a JSON object.",
        "too_deep": f"Must not be nested more than {MAX_JSON_DEPTH} levels deep.",
        "null_characters_not_allowed": "Null characters are not allowed.",
        "not_a_string": "Every value must be a string.",
    }

    def __init__(self, *, string_values: bool = False, **kwargs):
        self.string_values = string_values
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            self.fail("not_an_object")
        if self.string_values and not all(isinstance(value, str) for value in data.values()):
            self.fail("not_a_string")
        stack = [(data, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_JSON_DEPTH:
                self.fail("too_deep")
            children = node.values() if isinstance(node, dict) else node
            if isinstance(node, dict) and any("\x00" in key for key in node):
                self.fail("null_characters_not_allowed")
            for child in children:
                if isinstance(child, str) and "\x00" in child:
                    self.fail("null_characters_not_allowed")
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
        return data


class ModelSerializer(serializers.ModelSerializer):
    """`input_aliases` maps other accepted spellings of a field to its name (the first spelling wins).

    Every value must have its field's JSON type (JSON_TYPES); null is left to the field (`allow_null`).
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.JSONField: JSONObjectField,
    }
    input_aliases: dict[str, str] = {}

    @property
    def data(self):
        # A record just written carries its representation, made for the write's event (events.services) from the
        # same row: the answer to the write reuses it rather than building it twice.
        kept = getattr(self.instance, "__dict__", {}).get("_representation")
        if kept is not None and kept[0] is type(self) and not getattr(self, "_errors", None):
            return ReturnDict(kept[1], serializer=self)
        return super().data

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and any(alias in data for alias in self.input_aliases):
            data = dict(data)
            for alias, name in self.input_aliases.items():
                if alias in data:
                    data.setdefault(name, data.pop(alias))
        if isinstance(data, Mapping):
            errors = self._json_type_errors(data)
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def _json_type_errors(self, data: Mapping) -> dict[str, list]:
        errors = {}
        for name, field, types, spelled in self._json_types:
            value = data.get(name)
            if value is None:
                continue
            wrong = (isinstance(value, bool) and bool not in types) or not isinstance(value, types)
            if isinstance(field, serializers.DecimalField) and isinstance(value, str):
                wrong = not DECIMAL_RE.fullmatch(value)  # no exponent, sign or blank DRF would read
            if wrong:
                # DRF's codes: `incorrect_type` for a related id, `invalid` for any other value.
                code = "incorrect_type" if isinstance(field, serializers.RelatedField) else "invalid"
                errors[name] = [serializers.ErrorDetail(f"Must be {spelled}.", code)]
        return errors

    @functools.cached_property
    def _json_types(self) -> list[tuple]:
        """(name, field, JSON types, their name) of each writable field JSON_TYPES names: worked out once per
        serializer (an import validates every row with one)."""
        checks = []
        for name, field in self.fields.items():
            if not field.read_only:
                for field_class, types, spelled in JSON_TYPES:
                    if isinstance(field, field_class):
                        checks.append((name, field, types, spelled))
                        break
        return checks


class RelatedTotals(serializers.Field):
    """Aggregates over a reverse relation of the record, as one object: `RelatedTotals("orders",
    total_order_count=Count("*"), total_order_amount=Sum("amount"))` represents a customer's orders as
    `{"total_order_count": 2, "total_order_amount": 349.99}`; over no records, counts are 0 and the rest null.

    A list reads every record's totals in one grouped query (RelatedTotalsListSerializer); the read path reads the
    same aggregates as a lateral join (`read_path_aggregates`).
    """

    def __init__(self, relation: str, **aggregates):
        self.relation = relation
        self.aggregates = aggregates
        super().__init__(read_only=True, source="*")

    @property
    def empty(self) -> dict:
        return {name: 0 if isinstance(aggregate, models.Count) else None for name, aggregate in self.aggregates.items()}

    def totals(self, records) -> dict:
        """Each record's totals, by primary key, in one grouped query."""
        if not records:
            return {}
        rel = type(records[0])._meta.get_field(self.relation)
        key = rel.field.attname
        rows = (
            rel.related_model._default_manager.filter(**{f"{key}__in": [record.pk for record in records]})
            .order_by()
            .values(key)
            .annotate(**self.aggregates)
        )
        found = {row.pop(key): row for row in rows}
        return {record.pk: found.get(record.pk, self.empty) for record in records}

    def to_representation(self, record):
        known = getattr(record, "_related_totals", {})
        if self.field_name not in known:
            known = record._related_totals = {**known, self.field_name: self.totals([record])[record.pk]}
        return known[self.field_name]

    def read_path_aggregates(self, opts, alias: str, row, joins: list) -> Callable:
        """The aggregates as columns of a LEFT JOIN LATERAL on the record `alias`; reads them back from a row."""
        rel = opts.get_field(self.relation)
        related = rel.related_model._meta
        lateral = f"{alias}_{len(joins)}"
        columns = []
        for name, aggregate in self.aggregates.items():
            source = aggregate.get_source_expressions()[0]
            if aggregate.distinct or aggregate.filter is not None or aggregate.function not in READ_PATH_AGGREGATES:
                raise ValueError(f"{name}: only plain {', '.join(READ_PATH_AGGREGATES)} are read by the read path")
            if isinstance(source, models.expressions.Star):
                argument = "*"
            elif isinstance(source, models.F):
                argument = f'x."{related.get_field(source.name).column}"'
            else:
                raise ValueError(f"{name}: aggregate a field or *")
            columns.append(f'{aggregate.function}({argument}) AS "{name}"')
        joins.append(
            f'LEFT JOIN LATERAL (SELECT {", ".join(columns)} FROM "{related.db_table}" x'
            f' WHERE x."{rel.field.column}" = {alias}."{opts.pk.column}") {lateral} ON true'
        )
        indexes = {name: row.add(f'{lateral}."{name}"') for name in self.aggregates}
        return lambda row_, values: {name: values[index] for name, index in indexes.items()}


READ_PATH_AGGREGATES = ("COUNT", "SUM", "MIN", "MAX", "AVG")


class RelatedTotalsListSerializer(serializers.ListSerializer):
    """A page's RelatedTotals, read for all its records at once (one grouped query per field) before each record's
    representation uses them."""

    def to_representation(self, data):
        records = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        for name, field in self.child.fields.items():
            if isinstance(field, RelatedTotals):
                totals = field.totals(records)
                for record in records:
                    record._related_totals = {**getattr(record, "_related_totals", {}), name: totals[record.pk]}
        return super().to_representation(records)


class TokenSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True, help_text="Send it as `Authorization: Token <key>`.")


class ActiveUserSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True)  # may be blank: not necessarily an address

    class Meta:
        model = get_user_model()
        fields = ("pk", "username", "email", "first_name", "last_name", "is_superuser")
        read_only_fields = fields


class HistoryEntrySerializer(serializers.Serializer):
    """One change of a record: when, what, by whom, in which request, and each changed field's old and
    new value."""

    id = serializers.IntegerField(source="history_id", read_only=True)
    created_date = serializers.DateTimeField(source="history_date", read_only=True)
    operation = serializers.ChoiceField(choices=["created", "updated", "deleted"], read_only=True)
    user = serializers.IntegerField(source="history_user_id", read_only=True, allow_null=True)
    request_id = serializers.CharField(read_only=True, allow_null=True)
    changes = serializers.DictField(
        child=serializers.DictField(),
        read_only=True,
        help_text='The fields the write changed: {"email": {"old": "a@example.com", "new": "b@example.com"}}.',
    )
