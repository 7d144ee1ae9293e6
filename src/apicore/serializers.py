"""Serializer policy shared by every resource: JSON objects, bounded and free of NUL characters."""

import re
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.db import models
from rest_framework import serializers

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


class ModelSerializer(serializers.ModelSerializer):
    """`input_aliases` maps other accepted spellings of a field to its name (the first spelling wins).

    Every value must have its field's JSON type (JSON_TYPES); null is left to the field (`allow_null`).
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.JSONField: JSONObjectField,
    }
    input_aliases: dict[str, str] = {}

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
