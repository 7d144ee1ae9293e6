"""Many rows validated with one serializer, as `serializer.run_validation(row)` validates each, in less than half of
DRF's time per row (a customer: 34 µs against 73 to 83): the bulk import's validation (imports.services).

DRF spends most of a row's validation in its per-field machinery (each field's get_value, empty-value checks,
run_validation, run_validators, the writable fields walked through a mapping view) rather than in the conversions
and validators themselves. `RowValidator.run_validation` calls only those: each writable field's own
`to_internal_value` and `validators` (the same objects DRF calls), then the serializer's `validate()`. It takes a
row only where DRF's answer is certain to be that value: a value that is present and not blank, null where the
field allows it, or absent from a field DRF would skip; anything else (a missing required field, a null the field
refuses, a blank string, a value that fails a field, its validators or `validate()`, an alias to rename) is handed
to the serializer's own `run_validation`, so every error, and every doubtful value, is DRF's own.
tests/apicore/test_validation.py compares both ways.

The serializer qualifies when it has no serializer-level validators, no `validate_<field>` methods, no read-only
field with a default, and every writable field a plain `source` (Unsupported otherwise).
"""

from rest_framework import relations, serializers
from rest_framework.fields import Field, empty

# The ways of reading a plain dict's value and of running a field's conversion RowValidator repeats: DRF's own for
# every field it takes (a field that overrides them, say DecimalField's empty values, makes it Unsupported).
GET_VALUE = frozenset((Field.get_value, serializers.JSONField.get_value))
RUN_VALIDATION = frozenset(
    (Field.run_validation, serializers.CharField.run_validation, relations.RelatedField.run_validation)
)

__all__ = ["RowValidator", "Unsupported"]


class Unsupported(Exception):
    """The serializer does something RowValidator does not repeat: use its own run_validation."""


class RowValidator:
    def __init__(self, serializer):
        self.serializer = serializer
        if serializer.validators:
            raise Unsupported("serializer-level validators")
        fields, plans = serializer.fields, []
        for name, field in fields.items():
            if field.read_only:
                if field.default is not empty:
                    raise Unsupported(f"{name}: a read-only field with a default")
                continue
            if getattr(serializer, f"validate_{name}", None) is not None:
                raise Unsupported(f"validate_{name}()")
            if len(field.source_attrs) != 1 or isinstance(field, serializers.BaseSerializer):
                raise Unsupported(f"{name}: a nested or dotted source")
            kind = type(field)
            if (
                kind.get_value not in GET_VALUE
                or kind.run_validation not in RUN_VALIDATION
                or kind.validate_empty_values is not Field.validate_empty_values
            ):
                raise Unsupported(f"{name}: {kind.__name__} reads or checks values its own way")
            # Absent: DRF skips the field unless it is required (an error) or has a default (the default).
            skippable = not field.required and field.default is empty
            # A string DRF's CharField.to_internal_value returns as it is (stripped when trimming whitespace).
            char = type(field).to_internal_value is serializers.CharField.to_internal_value
            validators = [(validator, getattr(validator, "requires_context", False)) for validator in field.validators]
            plans.append((name, field.source, field, skippable, char, getattr(field, "trim_whitespace", False),
                          validators))  # fmt: skip
        self.plans = plans
        self.aliases = tuple(getattr(serializer, "input_aliases", {}))
        # apicore.serializers.ModelSerializer's JSON type check, which comes before DRF's conversions.
        self.type_errors = getattr(serializer, "_json_type_errors", None)

    def run_validation(self, data: dict) -> dict:
        """The serializer's validated data for `data`, as its `run_validation(data)` answers; its errors as it raises
        them."""
        attrs = self._attrs(data)
        if attrs is None:
            return self.serializer.run_validation(data)
        try:
            validated = self.serializer.validate(attrs)
        except Exception:  # validate() decides again, and says why as DRF says it
            return self.serializer.run_validation(data)
        assert validated is not None, ".validate() should return the validated data"
        return validated

    def _attrs(self, data: dict) -> dict | None:
        """The fields' values, or None where DRF must decide."""
        if self.aliases and any(alias in data for alias in self.aliases):
            return None
        if self.type_errors is not None and self.type_errors(data):
            return None
        partial = self.serializer.partial
        attrs = {}
        for name, source, field, skippable, char, trim, validators in self.plans:
            value = data.get(name, empty)
            if value is empty:
                if partial or skippable:
                    continue
                return None
            if value is None:  # DRF: the field's null, or its error
                if not field.allow_null:
                    return None
                attrs[source] = None
                continue
            if value == "":
                return None
            try:
                if char and type(value) is str:
                    converted = value.strip() if trim else value
                    if not converted:
                        return None
                else:
                    converted = field.to_internal_value(value)
                for validator, with_field in validators:
                    if with_field:
                        validator(converted, field)
                    else:
                        validator(converted)
            except Exception:
                return None
            attrs[source] = converted
        return attrs
