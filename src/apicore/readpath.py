"""The read path: hot GETs answered with one SQL statement each, in front of Django.

A WSGI callable wraps the Django application. For a GET of a route whose view declares it (`read_actions`: which
actions are a list and which one record), on PostgreSQL, it sends ONE prepared statement that checks the token by
its digest (expiry included) and that its user is active, checks the model permission (superuser, the user's own or
a group's), and reads what the response shows. It then builds the status, headers and body bytes DRF would, and
counts the request against the same rate limit. Everything else goes to Django untouched: writes, other routes, and
any read it cannot answer exactly (a header or parameter it does not know, an invalid value, a token or permission
that fails, a missing record, a database error, SQLite). Errors therefore always come from DRF.

A view action's statement and how its row becomes JSON are worked out once, from the declarations the DRF path uses
too: the view's model, serializer and `scope`, the serializer's fields and their model fields, the permission DRF
checks. Statements are sent as server-side prepared statements (psycopg's `prepare=True`): PostgreSQL parses and
plans each shape once per connection. Each value goes through the model field's `from_db_value` and the DRF field's
own `to_representation`, and the body is written by DRF's renderer, so the bytes agree by construction;
tests/apicore/test_readpath.py sends every request both ways and compares status, headers and body.
"""

import hashlib
import logging
import re

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core import signals
from django.core.exceptions import DisallowedHost, FieldDoesNotExist
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections
from django.urls import Resolver404, resolve
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import relations, serializers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings

from apicore import conditional, throttling
from apicore.authentication import TOKEN_RE
from apicore.renderers import JSONRenderer

__all__ = ["ReadPath"]

logger = logging.getLogger(__name__)

BIGINT_MAX = 2**63 - 1
AUTHORIZATION = re.compile(r"Token ([^ ]+)")
# Request headers that change nothing in a read's answer (HTTP plumbing, what clients send by habit); a read with
# any other header goes to Django, which knows what to do with it.
NEUTRAL_HEADERS = frozenset(
    "HTTP_" + name
    for name in (
        "HOST", "AUTHORIZATION", "ACCEPT", "ACCEPT_ENCODING", "ACCEPT_LANGUAGE", "CONNECTION", "USER_AGENT",
        "IF_NONE_MATCH", "X_REQUEST_ID", "X_FORWARDED_FOR", "X_FORWARDED_PROTO", "X_REAL_IP", "CACHE_CONTROL",
        "PRAGMA", "KEEP_ALIVE", "REFERER", "ORIGIN",
    )
)  # fmt: skip
# `Accept` values DRF answers with its JSON renderer, as it would without the header.
JSON_ACCEPTED = frozenset({"*/*", "application/json", "application/*"})
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified"}


class Unsupported(Exception):
    """A view action the read path cannot answer exactly; Django answers it."""


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class Row:
    """The columns a statement reads, in order, each with its model field (whose `from_db_value` reads it)."""

    def __init__(self):
        self.sql: list[str] = []
        self.fields: list = []

    def add(self, sql: str, model_field=None) -> int:
        self.sql.append(sql)
        self.fields.append(model_field)
        return len(self.sql) - 1

    def value(self, row: tuple, index: int):
        value = row[index]
        field = self.fields[index]
        if value is not None and hasattr(field, "from_db_value"):
            value = field.from_db_value(value, None, None)
        return value


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
            # A related record's id reaches the field as DRF's get_attribute hands it over: a PKOnlyObject.
            kind = "id" if isinstance(field, relations.PrimaryKeyRelatedField) else "column"
            self.steps.append((name, kind, row.add(f"{alias}.{q(model_field.column)}", model_field), field))

    def build(self, row: Row, values: tuple) -> dict | None:
        """The representation of the record in `values`, or None where a LEFT JOIN found none."""
        if values[self.pk] is None:
            return None
        data = {}
        for name, kind, where, field in self.steps:
            if kind == "column":
                value = row.value(values, where)
                data[name] = None if value is None else field.to_representation(value)
            elif kind == "id":
                value = values[where]
                data[name] = None if value is None else field.to_representation(relations.PKOnlyObject(value))
            elif kind == "nested":
                data[name] = where.build(row, values)
            else:
                data[name] = where(row, values)
        return data


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
    """What the read path answers for one view action of kind "retrieve", worked out once."""

    def __init__(self, view_class, action: str, initkwargs: dict, actions: dict):
        view = _view(view_class, action, initkwargs, actions)
        name = f"{view_class.__name__}.{action}"
        if (
            list(view.authentication_classes) != list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
            or list(view.permission_classes) != list(api_settings.DEFAULT_PERMISSION_CLASSES)
            or list(view.throttle_classes) != [throttling.TokenRateThrottle]
            or list(view.renderer_classes) != [JSONRenderer]
            or view.lookup_field != "pk"
        ):
            raise Unsupported(f"{name}: not the shared authentication, permission, throttle, renderer and lookup")
        model = view.queryset.model
        (permission,) = view.permission_classes[0]().get_required_permissions("GET", model)
        self.allow = ", ".join(view.allowed_methods)
        opts = model._meta
        self.row, joins = Row(), []
        self.representation = Representation(view.get_serializer_class()(), "r", self.row, joins)
        # The URL's arguments, in the order of their placeholders: the record's id, then the scope's.
        self.arguments = [view.lookup_url_kwarg or view.lookup_field]
        conditions = [f"r.{q(opts.pk.column)} = %s::bigint"]
        for kwarg, field_name in getattr(view, "scope", {}).items():
            conditions.append(f"r.{q(opts.get_field(field_name).column)} = %s::bigint")
            self.arguments.append(kwarg)
        token, user = get_token_model()._meta.db_table, get_user_model()._meta.db_table
        self.sql = (
            f"SELECT t.digest, {permission_sql('u', permission)}, {', '.join(self.row.sql)}"
            f" FROM {q(token)} t JOIN {q(user)} u ON u.id = t.user_id"
            f" LEFT JOIN {q(opts.db_table)} r ON {' AND '.join(conditions)}"
            f"{''.join(f' {join}' for join in joins)}"
            " WHERE t.token_key = %s AND t.digest = %s AND u.is_active AND (t.expiry IS NULL OR t.expiry > now())"
        )

    def data(self, values: tuple) -> dict | None:
        """The record's representation; None unless the token holds the permission and the record exists."""
        if values is None or not values[1]:
            return None
        return self.representation.build(self.row, values[2:])


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
        if environ.get("REQUEST_METHOD") == "GET" and self.enabled():
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
            if getattr(view_class, "read_actions", {}).get(name) == "retrieve":
                try:
                    self.actions[key] = Action(view_class, name, match.func.initkwargs, actions)
                except Unsupported as reason:
                    logger.info("read path: answered by Django: %s", reason)
        return self.actions[key]

    def answer(self, environ) -> tuple | None:
        """(status line, headers, body) for a request the read path answers, else None."""
        if (
            environ.get("QUERY_STRING")
            or environ.get("CONTENT_LENGTH") not in (None, "", "0")
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
        try:
            arguments = [int(match.kwargs[name]) for name in action.arguments]
        except (KeyError, ValueError):
            return None
        if not all(0 <= value <= BIGINT_MAX for value in arguments):
            return None
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS, as Django checks it
        except DisallowedHost:
            return None
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return None
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            return self._answer(request, action, arguments, authorization[1])
        finally:
            signals.request_finished.send(sender=self.__class__)

    def _answer(self, request, action: Action, arguments: list[int], token: str):
        connection = connections["default"]
        digest = hash_token(token)
        try:
            connection.ensure_connection()
            with psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(action.sql, [*arguments, token[: CONSTANTS.TOKEN_KEY_LENGTH], digest], prepare=True)
                values = cursor.fetchone()
        except (psycopg.Error, connection.Database.Error) as error:
            logger.info("read path: a database error, handed to Django: %s", error)
            return None
        data = action.data(values)
        if data is None:
            return None
        body = self.renderer.render(data)
        tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'  # apicore.conditional.etag of the same bytes
        try:
            outcome = conditional.evaluate(request, tag)
        except ParseError:  # a malformed If-None-Match: DRF's 400
            return None
        if outcome == 304:
            return self._respond(request, digest, 304, {"ETag": tag, "Allow": action.allow}, b"")
        if outcome is not None:
            return None
        headers = {"Content-Type": "application/json", "ETag": tag, "Allow": action.allow}
        return self._respond(request, digest, 200, headers, body)

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
    """What Django's SecurityMiddleware and XFrameOptionsMiddleware add to an API response, per the settings."""
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
    return headers
