"""The OpenAPI document (drf-spectacular): what every operation shares is documented here, once.

Each operation gets the error responses it can answer (which depends on its method, its path and whether it needs a
token and a model permission), all with the JSON bodies of apicore.exceptions; lists get their filters (including the
JSON-key filters `<field>__<key>`), `page`/`limit` and, in the default list format, X-Total-Count and Link.

The shared HTTP policy is documented where the views apply it: If-Match / If-None-Match, 304 and 412 and the ETag
where apicore.views.ModelViewSet reads or writes one record (apicore.conditional); Idempotency-Key, 422 and
Idempotent-Replayed on the POSTs that honour it (apicore.idempotency); the RateLimit-* fields while a limit is on
(apicore.throttling).
"""

import re

import django_filters
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.validators import RegexValidator
from drf_spectacular import openapi
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_parameter_type
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.permissions import DjangoModelPermissions

from apicore.filters import BIGINT_MAX, IntegerFilter
from apicore.idempotency import HEADER as IDEMPOTENCY_KEY
from apicore.idempotency import REPLAYED_HEADER, IdempotentCreateMixin
from apicore.throttling import parse_rate

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
    "412": (
        "A precondition failed: `If-Match` names no current ETag of the resource (or, on a write, "
        "`If-None-Match` names it). Nothing was written.",
        "Error",
        {},
    ),
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
# RFC 9110 §8.8.3 and §13.1.1: `*`, or a comma-separated list of quoted entity tags (`"abc"`, weak `W/"abc"`; empty
# members ignored). Exactly what apicore.conditional parses; anything else answers 400 `parse_error`.
ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
ENTITY_TAGS = {
    "type": "string",
    "pattern": rf"^(?:[ \t]*\*[ \t]*|(?:[ \t]*,)*[ \t]*{ENTITY_TAG}[ \t]*(?:,[ \t]*(?:{ENTITY_TAG}[ \t]*)?)*)$",
}
CONDITIONAL_REQUEST = {
    "GET": {
        "If-None-Match": "The record's ETag(s) the client holds: 304 without a body while one is current.",
        "If-Match": "The record only if one of these ETags is current, else 412.",
    },
    "write": {
        "If-Match": "Write only if one of these ETags is still current (strong comparison), else 412; `*` any.",
        "If-None-Match": "Write only if none of these ETags is current, else 412; `*` never.",
    },
}
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    # 1 to 255 printable ASCII characters (apicore.idempotency.KEY_RE); spaces and tabs around the key are not part
    # of the header's value (RFC 9110 §5.5), so they are allowed here and the key itself starts and ends visibly.
    "pattern": "^[ \\t]*[!-~]([ -~]{0,253}[!-~])?[ \\t]*$",
}
ETAG = {
    "schema": {"type": "string", "pattern": '^"[0-9a-f]{32}"$'},
    "required": True,
    "description": "The record's strong entity tag; send it in `If-Match` to write only what was read.",
}
# apicore.idempotency stores these answers of a keyed POST and replays them (all but 409, 422, 429 and 5xx, and the
# refusals that come before the view: 401, 403, 405, 406, 413).
REPLAYABLE = {"201", "400", "404", "415"}
REPLAYED = {
    "schema": {"type": "string", "enum": ["true"]},
    "required": False,
    "description": "Present when this is the stored answer to an earlier request with the same `Idempotency-Key`.",
}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"schema": {"type": "integer", "minimum": 1}, "description": "Requests allowed per window."},
    "RateLimit-Remaining": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Requests left in the current window.",
    },
    "RateLimit-Reset": {
        "schema": {"type": "integer", "minimum": 1},
        "description": "Seconds until the current window ends.",
    },
    "RateLimit-Policy": {
        "schema": {"type": "string", "pattern": "^[0-9]+;w=[0-9]+$"},
        "description": "`<limit>;w=<window seconds>` (draft-ietf-httpapi-ratelimit-headers-06).",
    },
}
# Refused before the limit counts the request: content negotiation, authentication, permissions (DRF's order).
NOT_COUNTED = {"401", "403", "406"}
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
    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        for name, description in self.conditional_headers().items():
            parameters.append(OpenApiParameter(name, ENTITY_TAGS, OpenApiParameter.HEADER, description=description))
        if self.honours_idempotency_key():
            description = (
                "Makes the POST safe to retry: 1 to 255 printable ASCII characters (else 400), chosen by the "
                "client, one per distinct request. A retry with the same key, method, path and body within 24 hours "
                "gets the first answer again (`Idempotent-Replayed: true`); the same key with another request answers "
                "422, and one while the first is still running 409."
            )
            parameters.append(
                OpenApiParameter(
                    IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_SCHEMA, OpenApiParameter.HEADER, description=description
                )
            )
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            description, name, _ = ERRORS[status]
            self.registry.register_on_missing(
                ResolvedComponent(
                    name, ResolvedComponent.SCHEMA, {"Error": ERROR, "ValidationError": VALIDATION_ERROR}[name], name
                )
            )
            responses.setdefault(
                status,
                {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                },
            )
        if "If-None-Match" in self.conditional_headers() and self.method == "GET":
            responses.setdefault("304", {"description": "Not modified: `If-None-Match` names the current ETag."})
        for status, response in responses.items():
            if headers := self.response_headers(status):
                response["headers"] = {**response.get("headers", {}), **headers}
        return dict(sorted(responses.items()))

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
        if self.method in WITH_BODY:
            statuses |= {"413", "415"}
        if self.conditional_headers():
            statuses.add("412")
        if self.honours_idempotency_key():
            statuses.add("422")
        return sorted(statuses)

    def response_headers(self, status: str) -> dict:
        """The headers of this operation's `status` answer."""
        headers = dict(ERRORS[status][2]) if status in ERRORS else {}
        if status == "200" and self._is_list_view() and self._get_paginator():
            if settings.OMNITRON_LIST_FORMAT == "array":
                headers.update(LIST_HEADERS)
            else:  # count and links travel in the body
                headers["X-Total-Count-Estimated"] = LIST_HEADERS["X-Total-Count-Estimated"]
        shared = {}
        if self.sends_etag() and status in ("200", "201", "304"):
            shared["ETag"] = ETAG
        if self.honours_idempotency_key() and status in REPLAYABLE:
            shared[REPLAYED_HEADER] = REPLAYED
        if self.rate_limited() and status not in NOT_COUNTED:
            if not self.is_login() or status in ("200", "400", "429"):  # failed logins count
                shared.update(RATE_LIMIT_HEADERS)
        for name, header in shared.items():  # once in components/headers, referenced by every response
            self.registry.register_on_missing(ResolvedComponent(name, ResolvedComponent.HEADER, header, name))
            headers[name] = {"$ref": f"#/components/headers/{name}"}
        return headers

    def conditional_headers(self) -> dict[str, str]:
        """The preconditions this operation evaluates: on one record of a ModelViewSet (apicore.conditional)."""
        if not self.is_model_view_set() or self._is_list_view() or "{" not in self.path or self.is_export():
            return {}
        if self.method == "GET":
            return CONDITIONAL_REQUEST["GET"]
        if self.method in UNSAFE - {"POST"}:
            return CONDITIONAL_REQUEST["write"]
        return {}

    def sends_etag(self) -> bool:
        """A ModelViewSet answers one record with its ETag: read (GET), created (POST) or written (PUT, PATCH)."""
        return self.is_model_view_set() and (
            self.method == "POST" or (self.method != "DELETE" and bool(self.conditional_headers()))
        )

    def get_filter_backends(self):
        # An export takes the list's filters, though it answers a file rather than a list.
        if self.is_export():
            return getattr(self.view, "filter_backends", [])
        return super().get_filter_backends()

    def is_export(self) -> bool:
        """`GET <list>/export/` (apicore.export): the list's rows as a file, not one record."""
        from apicore.export import ExportMixin

        return isinstance(self.view, ExportMixin) and getattr(self.view, "action", None) == "export"

    def is_model_view_set(self) -> bool:
        from apicore.views import ModelViewSet  # apicore.views needs this module to define its own schemas

        return isinstance(self.view, ModelViewSet)

    def is_login(self) -> bool:
        from apicore.views import LoginView

        return isinstance(self.view, LoginView)

    def honours_idempotency_key(self) -> bool:
        # `create` alone: the mixin wraps it, not a view set's other POST actions.
        return (
            self.method == "POST"
            and isinstance(self.view, IdempotentCreateMixin)
            and getattr(self.view, "action", "create") == "create"
        )

    def rate_limited(self) -> bool:
        """Whether the running configuration limits this operation (the token limit, or failed logins on login)."""
        rate = settings.OMNITRON_LOGIN_RATE_LIMIT if self.is_login() else settings.OMNITRON_RATE_LIMIT
        return bool(self.get_auth() or self.is_login()) and parse_rate(rate) is not None

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.DecimalField):
            return decimal_schema(field, direction)
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and schema.get("type") == "string"
            and not {"format", "enum", "pattern"} & set(schema)
            # drf-spectacular adds a RegexValidator's own pattern later, unless one is already there.
            and not any(isinstance(validator, RegexValidator) for validator in field.validators)
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
        for name, prop in schema.get("properties", {}).items():
            schema["properties"][name] = blank_allowed(prop)
        if direction == "request" and self.method != "PATCH":
            for name, default in model_defaults(serializer).items():
                prop = schema["properties"][name]
                prop.setdefault("default", default)
                note = "Left out on create, it takes this default; left out of a PUT, it keeps its stored value."
                prop["description"] = " ".join(filter(None, [prop.get("description"), note]))
        if serializer.__class__.__doc__ is None:  # not the docstring of a base class
            schema.pop("description", None)
        return schema


def model_defaults(serializer) -> dict:
    """The value an optional field of a ModelSerializer takes on create when a request leaves it out: its model
    field's constant default (DRF's ModelSerializer makes such a field optional and leaves the default to the model,
    so drf-spectacular cannot see it)."""
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    if model is None:
        return {}
    defaults = {}
    for name, field in serializer.fields.items():
        if field.read_only or field.required or field.default is not empty:
            continue
        try:
            column = model._meta.get_field(field.source)
        except FieldDoesNotExist:
            continue
        if column.has_default() and not callable(column.default):
            defaults[name] = column.default
    return defaults


BLANK = {"type": "string", "maxLength": 0}


def blank_allowed(schema: dict) -> dict:
    """drf-spectacular documents a string that may be blank and has a pattern, format or minLength as
    `oneOf: [<string>, {maxLength: 0}]`. When the first branch accepts "" too, "" matches both and `oneOf` refuses it:
    the document would call a valid `{"last_name": ""}` invalid. One branch then, else `anyOf`."""
    branches = schema.get("oneOf")
    if not branches or len(branches) != 2 or branches[1] != BLANK:
        return schema
    outer = {key: value for key, value in schema.items() if key != "oneOf"}
    first = branches[0]
    if not first.get("minLength") and "format" not in first and re.search(first.get("pattern", ""), ""):
        return {**first, **outer}
    return {**outer, "anyOf": branches}


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
            elif isinstance(filter_field, IntegerFilter) and not isinstance(filter_field, django_filters.BaseInFilter):
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}  # an id
        return parameters

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        parameters = super().get_schema_operation_parameters(auto_schema, *args, **kwargs)
        filterset_class = self.target.get_filterset_class(auto_schema.view)
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
