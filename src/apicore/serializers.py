"""Serializer policy shared by every resource: JSON objects, bounded and free of NUL characters; lean reads."""

import datetime
import keyword
import re
from collections.abc import Callable, Mapping
from functools import cached_property

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from rest_framework import ISO_8601, relations, serializers
from rest_framework.fields import SkipField
from rest_framework.settings import api_settings

__all__ = ["ActiveUserSerializer", "JSONObjectField", "ModelSerializer", "TokenSerializer"]

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


# DRF fields whose to_representation returns a stored value of the given type as it is (str() of a str, int() of an
# int, a bool as a bool; any JSON value unless the field is `binary`), and those that only convert the value by their
# own settings (no parent, context or request).
AS_STORED = {
    serializers.CharField.to_representation: str,
    serializers.IntegerField.to_representation: int,
    serializers.BooleanField.to_representation: bool,
    serializers.JSONField.to_representation: object,
    relations.PrimaryKeyRelatedField.to_representation: object,
}
ISO_DATETIME = "iso-datetime"  # a DateTimeField in ISO 8601 format, in the current time zone: see _iso_datetime
NESTED = "nested"  # a related record, represented by a nested serializer
METHOD = "method"  # a SerializerMethodField
CONVERTED = {
    serializers.BigIntegerField.to_representation,
    serializers.ChoiceField.to_representation,
    serializers.DateField.to_representation,
    serializers.DateTimeField.to_representation,
    serializers.DecimalField.to_representation,
    serializers.FloatField.to_representation,
}


def _representation_plan(serializer) -> list[tuple]:
    """How `serializer`'s class reads each readable field: `(name, attname, stored_type, field)`.

    A field that reads a concrete model column by its own name (or `pk`, or a foreign key's id) and is listed in
    AS_STORED or CONVERTED is read from the instance's attribute (`attname`); `stored_type` is the type of value
    represented as it is (`object`: any; or ISO_DATETIME), else `field.to_representation` converts it.
    A read-only nested serializer of this class's kind, on a foreign key of the same name, is read from the related
    instance (stored_type NESTED, `field` the nested serializer); a SerializerMethodField calls its method
    (stored_type METHOD, `field` the method's name). Neither needs the serializer's bound fields, which DRF builds
    anew for every request.
    Any other field (computed sources, for one) has attname None and goes through DRF, bound to the serializer.
    """
    opts = serializer.Meta.model._meta
    plan = []
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if isinstance(field, serializers.SerializerMethodField):
            plan.append((name, name, METHOD, field.method_name or f"get_{name}"))
            continue
        represent = type(field).to_representation
        try:
            column = opts.pk if field.source == "pk" else opts.get_field(field.source)
        except FieldDoesNotExist:
            column = None
        if (
            isinstance(field, ModelSerializer)
            and field.read_only
            and field.source == name
            and column is not None
            and column.many_to_one
            # Only columns and records all the way down: anything else would need the nested field's context.
            and all(attname is not None and kind is not METHOD for _, attname, kind, _ in field.plan())
        ):
            plan.append((name, name, NESTED, field))
            continue
        if column is not None and column.concrete and (represent in AS_STORED or represent in CONVERTED):
            if isinstance(field, relations.PrimaryKeyRelatedField):
                direct = column.many_to_one and field.pk_field is None  # DRF represents the id the row holds
            else:
                direct = not column.is_relation and not getattr(field, "binary", False)
            if direct:
                stored_type = AS_STORED.get(represent)
                if (
                    represent is serializers.DateTimeField.to_representation
                    and not hasattr(field, "timezone")
                    and getattr(field, "format", api_settings.DATETIME_FORMAT).lower() == ISO_8601
                ):
                    stored_type = ISO_DATETIME
                plan.append((name, column.attname, stored_type, field))
                continue
        plan.append((name, None, None, None))
    return plan


def _representer(serializer_class, plan: list[tuple]) -> Callable:
    """`plan` as one function `(serializer, instance, tz) -> dict`, the steps of each field written out in order:
    a loop over the plan spent more on choosing each field's step than on the steps (100 customers: 1.6 ms against
    0.9 ms). Names and fields come from the serializer's class, never from a request."""
    env = {"iso": _iso_datetime, "drf": _drf_field}
    lines = ["def represent(self, instance, tz):", "    r = {}"]
    for i, (name, attname, kind, field) in enumerate(plan):
        env[f"f{i}"], env[f"a{i}"], key = field, attname, repr(name)
        if attname is None:
            lines.append(f"    drf(self, {key}, instance, r)")
            continue
        if kind is METHOD:
            lines.append(f"    r[{key}] = getattr(self, f{i})(instance)")
            continue
        plain = attname.isidentifier() and not keyword.iskeyword(attname)
        lines.append(f"    v = instance.{attname}" if plain else f"    v = getattr(instance, a{i})")
        if kind is object:
            lines.append(f"    r[{key}] = v")
        elif kind is NESTED:
            lines.append(f"    r[{key}] = None if v is None else self._represent_related({key}, f{i}, v)")
        elif kind is ISO_DATETIME:
            lines.append(
                f"    r[{key}] = None if v is None else iso(v, tz, f{i}) "
                f"if tz is not None and v.utcoffset() is not None else f{i}.to_representation(v)"
            )
        elif isinstance(kind, type):
            env[f"t{i}"] = kind
            lines.append(f"    r[{key}] = v if v is None or type(v) is t{i} else f{i}.to_representation(v)")
        else:
            lines.append(f"    r[{key}] = None if v is None else f{i}.to_representation(v)")
    lines.append("    return r")
    exec(compile("\n".join(lines), f"<representation of {serializer_class.__qualname__}>", "exec"), env)
    return env["represent"]


def _drf_field(serializer, name: str, instance, representation: dict) -> None:
    """One field the way DRF's Serializer.to_representation goes through it."""
    field = serializer.fields[name]
    try:
        attribute = field.get_attribute(instance)
    except SkipField:
        return
    check_for_none = attribute.pk if isinstance(attribute, relations.PKOnlyObject) else attribute
    representation[name] = None if check_for_none is None else field.to_representation(attribute)


def _iso_datetime(value: datetime.datetime, tz, field) -> str:
    """DRF's DateTimeField.to_representation (ISO 8601) of an aware datetime, `tz` the current time zone: what DRF
    looks up for every value (a context-local read) is looked up once per list (ListState), else once per record."""
    try:
        text = value.astimezone(tz).isoformat()
    except OverflowError:
        return field.to_representation(value)  # DRF's error
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _current_timezone():
    return timezone.get_current_timezone() if settings.USE_TZ else None


class ListState:
    """What one list's records share. A page of customers names a few channels: each related record is represented
    once, by (field, id), and its representation shared by the rows naming it (read-only). The current time zone is
    looked up once (a context-local read, 3 µs, was a fifth of representing a customer)."""

    def __init__(self):
        self.related: dict[tuple, dict] = {}

    @cached_property
    def timezone(self):
        return _current_timezone()


class ModelSerializer(serializers.ModelSerializer):
    """`input_aliases` maps other accepted spellings of a field to its name (the first spelling wins).

    Every value must have its field's JSON type (JSON_TYPES); null is left to the field (`allow_null`).

    A record is represented as DRF's Serializer.to_representation would, key for key and value for value, but plain
    columns are read straight from the instance (_representation_plan, made once per class from a fresh instance,
    so the fields must neither depend on a serializer's arguments nor be changed on an instance, and written out as
    one function, _representer): DRF's generic attribute lookup per field and value was most of the time a list took.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.JSONField: JSONObjectField,
    }
    input_aliases: dict[str, str] = {}
    _plans: dict[type, list[tuple]] = {}
    _representers: dict[type, Callable] = {}
    # What a list's records share (ListState); None outside a list.
    _list: "ListState | None" = None

    @classmethod
    def many_init(cls, *args, **kwargs):
        serializer = super().many_init(*args, **kwargs)
        serializer.child._list = ListState()
        return serializer

    @classmethod
    def plan(cls) -> list[tuple]:
        plan = cls._plans.get(cls)
        if plan is None:
            plan = cls._plans[cls] = _representation_plan(cls())
        return plan

    @classmethod
    def representer(cls) -> Callable:
        represent = cls._representers.get(cls)
        if represent is None:
            represent = cls._representers[cls] = _representer(cls, cls.plan())
        return represent

    def to_representation(self, instance):
        if not isinstance(instance, self.Meta.model):  # validated data, for one
            return super().to_representation(instance)
        return self.representer()(self, instance, _current_timezone() if self._list is None else self._list.timezone)

    def _represent_related(self, name: str, field, record):
        if self._list is None:
            return field.to_representation(record)
        key = (name, record.pk)
        representation = self._list.related.get(key)
        if representation is None:
            representation = self._list.related[key] = field.to_representation(record)
        return representation

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
        for name, field in self.fields.items():
            value = data.get(name)
            if field.read_only or value is None:
                continue
            for field_class, types, spelled in JSON_TYPES:
                if isinstance(field, field_class):
                    wrong = (isinstance(value, bool) and bool not in types) or not isinstance(value, types)
                    if isinstance(field, serializers.DecimalField) and isinstance(value, str):
                        wrong = not DECIMAL_RE.fullmatch(value)  # no exponent, sign or blank DRF would read
                    if wrong:
                        # DRF's codes: `incorrect_type` for a related id, `invalid` for any other value.
                        code = "incorrect_type" if isinstance(field, serializers.RelatedField) else "invalid"
                        errors[name] = [serializers.ErrorDetail(f"Must be {spelled}.", code)]
                    break
        return errors


class TokenSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True, help_text="Send it as `Authorization: Token <key>`.")


class ActiveUserSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True)  # may be blank: not necessarily an address

    class Meta:
        model = get_user_model()
        fields = ("pk", "username", "email", "first_name", "last_name", "is_superuser")
        read_only_fields = fields
