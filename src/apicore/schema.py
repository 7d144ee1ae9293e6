"""The OpenAPI document (drf-spectacular): what every operation shares is documented here, once.

Each operation gets the error responses it can answer (which depends on its method, its path and whether it needs a
token and a model permission), all with the JSON bodies of apicore.exceptions; lists get their filters (including the
JSON-key filters `<field>__<key>`), `page`/`limit` and, in the default list format, X-Total-Count and Link.
"""

import django_filters
from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_parameter_type
from rest_framework import serializers
from rest_framework.permissions import DjangoModelPermissions

from apicore.filters import BIGINT_MAX

__all__ = ["AutoSchema", "FilterExtension", "JSONObjectFieldExtension", "TokenScheme"]

ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "code": {"type": "string", "description": "What went wrong, for programs (DRF's error code)."},
    },
    "required": ["detail", "code"],
}
VALIDATION_ERROR = {
    "type": "object",
    "description": (
        "Each invalid field or query parameter maps to its messages (`non_field_errors` for a rule across fields); "
        "an unreadable body answers `detail` instead. `code` is the first error's code."
    ),
    "properties": {
        "code": {"type": "string", "description": "The first error's code (`required`, `invalid`, `unique`, ...)."},
        "detail": {"type": "string", "description": "Why the request as a whole was refused (unreadable JSON)."},
    },
    "required": ["code"],
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

# DRF and the query-string filters refuse a NUL character in any string (PostgreSQL cannot store one).
NO_NUL = "^[^\\u0000]*$"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
WITH_BODY = {"POST", "PUT", "PATCH"}

# status: (when, body schema, headers)
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "Seconds to wait."}}
ERRORS = {
    "400": ("The request is invalid: a field, a query parameter, the body or a header.", "ValidationError", {}),
    "401": ("No token, or not a valid one: send `Authorization: Token <key>`.", "Error", {}),
    "403": ("The token's user lacks the model permission (view, add, change, delete) this needs.", "Error", {}),
    "404": ("Not found: the resource of the path, or the page of the list.", "Error", {}),
    "405": (
        "The method is not allowed here.",
        "Error",
        {"Allow": {"schema": {"type": "string"}, "required": True, "description": "The methods allowed here."}},
    ),
    "406": ("The `Accept` header allows no JSON; this service answers JSON only.", "Error", {}),
    "409": (
        "The write conflicts with the current state: a concurrent write, or a request with the same "
        "`Idempotency-Key` still in progress (then with `Retry-After`).",
        "Error",
        {"Retry-After": {**RETRY_AFTER["Retry-After"], "required": False}},
    ),
    "412": ("`If-Match` names a version (ETag) that is no longer the resource's.", "Error", {}),
    "413": ("The body is larger than the limit (1 MiB unless configured).", "Error", {}),
    "415": ("The body is not `application/json`.", "Error", {}),
    "422": ("The `Idempotency-Key` was used before with a different request.", "Error", {}),
    "429": (
        "Too many requests: the rate limit is spent until `Retry-After` seconds have passed.",
        "Error",
        RETRY_AFTER,
    ),
    "500": ("An unexpected server error.", "Error", {}),
    "503": ("The database is unavailable; retry after `Retry-After` seconds.", "Error", RETRY_AFTER),
}
LIST_HEADERS = {
    "X-Total-Count": {
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
        "description": (
            "How many rows match the filters, on all pages together: exact up to OMNITRON_EXACT_COUNT_LIMIT "
            "(10,000 by default), the database planner's estimate above it."
        ),
    },
    "X-Total-Count-Estimated": {
        "schema": {"type": "string", "enum": ["true"]},
        "required": False,
        "description": "Present when X-Total-Count (or `count`) is an estimate; the `Link` header then has no `last`.",
    },
    "Link": {
        "schema": {"type": "string"},
        "required": True,
        "description": 'RFC 8288 links to the `first`, `prev`, `next` and `last` pages: `<url>; rel="next"`.',
    },
}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            description, name, headers = ERRORS[status]
            self.registry.register_on_missing(
                ResolvedComponent(
                    name, ResolvedComponent.SCHEMA, {"Error": ERROR, "ValidationError": VALIDATION_ERROR}[name], name
                )
            )
            response = {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
            }
            if headers:
                response["headers"] = headers
            responses.setdefault(status, response)
        return responses

    def error_statuses(self) -> list[str]:
        """Which of ERRORS this operation can answer."""
        statuses = {"400", "405", "406", "429", "500", "503"}
        if self.get_auth():
            statuses.add("401")
        if any(isinstance(permission, DjangoModelPermissions) for permission in self.view.get_permissions()):
            statuses.add("403")
        if "{" in self.path or self._is_list_view():
            statuses.add("404")
        if self.method in UNSAFE:
            statuses.add("409")
        if self.method == "POST":
            statuses.add("422")  # Idempotency-Key is read on POST only
        if self.method in WITH_BODY:
            statuses |= {"413", "415"}
        if self.method in UNSAFE - {"POST"}:
            statuses.add("412")
        return sorted(statuses)

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.DecimalField):
            return decimal_schema(field, direction)
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and schema.get("type") == "string"
            and not {"format", "enum", "pattern"} & set(schema)
        ):
            schema["pattern"] = NO_NUL
        # Every id answered is a bigint (DEFAULT_AUTO_FIELD), as the contract's `pk` says. Requests may send any
        # integer: one that names nothing answers 400 whatever its size.
        is_id = isinstance(field, serializers.PrimaryKeyRelatedField) or (
            isinstance(field, serializers.IntegerField | serializers.ReadOnlyField) and field.source in ("pk", "id")
        )
        if is_id and direction == "response" and schema.get("type") == "integer":
            schema.setdefault("format", "int64")
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if serializer.__class__.__doc__ is None:  # not the docstring of a base class
            schema.pop("description", None)
        return schema

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "200" and self._is_list_view() and self._get_paginator():
            # The "paginated" envelope carries count and links in its body; only the estimate flag stays a header.
            shown = LIST_HEADERS if settings.OMNITRON_LIST_FORMAT == "array" else ["X-Total-Count-Estimated"]
            headers = {**{name: LIST_HEADERS[name] for name in shown}, **headers}
        return headers


def decimal_schema(field: serializers.DecimalField, direction: str) -> dict:
    """Money: answered as a string with exactly `decimal_places` places; accepted as such a string (fewer places
    allowed) or as a JSON number (apicore.serializers checks the spelling)."""
    whole, places = field.max_digits - field.decimal_places, field.decimal_places
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    if direction == "response":
        return {"type": "string", "format": "decimal", "pattern": f"^{sign}[0-9]{{1,{whole}}}\\.[0-9]{{{places}}}$"}
    number = {"type": "number", "maximum": float(10**whole - 10**-places)}
    if field.min_value is not None:
        number["minimum"] = float(field.min_value)
    text = {"type": "string", "format": "decimal", "pattern": f"^{sign}0*[0-9]{{1,{whole}}}(\\.[0-9]{{1,{places}}})?$"}
    return {"anyOf": [text, number]}


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "apicore.authentication.TokenAuthentication"
    name = "Token"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Token <key>`, the key from `POST /api/v1/auth/login/`.",
        }


class FilterExtension(DjangoFilterExtension):
    """django-filter's parameters, plus the JSON-key filters: `attributes__<key>` is documented by one example name,
    `attributes__some_key`, as the published contract does."""

    target_class = "apicore.filters.FilterBackend"
    priority = 1

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(auto_schema, model, filterset_class, field_name, filter_field)
        for parameter in parameters:
            parameter["schema"].pop("nullable", None)  # a query string holds no null
            parameter["allowEmptyValue"] = True  # `?email=` filters nothing, as django-filter reads it
            if parameter["schema"].get("type") == "string" and not {"format", "enum"} & set(parameter["schema"]):
                parameter["schema"]["pattern"] = NO_NUL
            if isinstance(filter_field, django_filters.ModelChoiceFilter):
                parameter["schema"].update(minimum=1, maximum=BIGINT_MAX)  # an id
        return parameters

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        parameters = super().get_schema_operation_parameters(auto_schema, *args, **kwargs)
        filterset_class = getattr(auto_schema.view, "filterset_class", None)
        for field in getattr(getattr(filterset_class, "Meta", None), "json_fields", ()):
            parameters.append(
                {
                    **build_parameter_type(
                        name=f"{field}__some_key",
                        location="query",
                        schema={"type": "string", "pattern": NO_NUL},
                        description=(
                            f"`{field}__<key>=<value>`: rows whose `{field}` holds `value` at `key` (`__` joins "
                            "nested keys, at most 8), as a string or as the number or boolean it spells."
                        ),
                    ),
                    "allowEmptyValue": True,
                }
            )
        return parameters


class JSONObjectFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "apicore.serializers.JSONObjectField"

    def map_serializer_field(self, auto_schema, direction):
        if self.target.string_values:
            return {"type": "object", "additionalProperties": {"type": "string"}}
        return {"type": "object"}
