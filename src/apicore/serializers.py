"""Serializer policy shared by every resource: JSON objects, bounded and free of NUL characters."""

from collections.abc import Mapping

from django.db import models
from rest_framework import serializers

__all__ = ["JSONObjectField", "ModelSerializer"]

MAX_JSON_DEPTH = 32


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
    """`input_aliases` maps other accepted spellings of a field to its name (the first spelling wins)."""

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
        return super().to_internal_value(data)
