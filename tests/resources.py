"""The standard cases of every API route, from a few declarations (after NetBox's `APIViewTestCases`).

A route declares itself once, as a `Route`: its paths, its model and the permission model, how to make a record
visible on it, valid bodies, its text and JSON fields, its read-only fields, and one case per filter. A test module
turns it into a test class, and the class inherits the whole matrix, run for every operation the route has:

    class TestChannels(RouteTests):
        route = Channels()

- a missing token is 401 `not_authenticated`, an unknown one 401 `authentication_failed`;
- a user with every permission but the operation's own gets exactly 403 `permission_denied`, and nothing changes;
  a user with only that permission succeeds, with the operation's own status and effect;
- lists: the array format with `X-Total-Count` and `Link`, the paginated envelope and its links, `limit` and `page`
  at and past their edges, and every sort field both ways;
- records: `If-None-Match` answers 304, a stale `If-Match` 412 and nothing changes;
- `Idempotency-Key`: a retry replays status, headers and body; another body with the key is 422; a retry while the
  first runs is 409;
- a database that fails once the token is checked answers 503 JSON;
- NUL characters and over-long values in every text and JSON field are a 400 naming the field;
- read-only fields in a body are ignored;
- every filter matches its match and not its miss, and a guard fails when a declared filter has no case;
- the queries of every operation are pinned in tests/query_counts/<route>.json (`pytest --update-query-counts`
  writes what the running database measures instead of comparing).

Each case was seen failing once, with the behaviour broken on purpose and then restored:
- no permission class on the views (DEFAULT_PERMISSION_CLASSES emptied): the 403 cases fail;
- the token authentication removed from the views: the 401 cases fail;
- `conditional.evaluate` made to ignore its headers: the 304 and 412 cases fail;
- `IdempotentCreateMixin.create` made to run every request: the replay, 422 and 409 cases fail;
- the 503 mapping of database errors removed from the exception handler: the 503 cases fail (500);
- `JSONObjectField`'s NUL check and a field's `max_length` removed: the NUL and over-long cases fail;
- a read-only field made writable: the read-only case fails;
- a filter's lookup changed (`iexact` to `icontains`) or the filter dropped from its set: its case fails (and the
  guard, when a case has no filter or a filter no case);
- `SortFilter` made to ignore `sort`: the sort cases fail;
- one more query in a view (an extra `count()`): the query-count case fails.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import OperationalError, connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from apicore.idempotency import fingerprint
from apicore.models import IdempotencyKey
from tests.conftest import API_MODELS

QUERY_COUNTS = Path(__file__).parent / "query_counts"


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    permission: str  # the model permission's action: view, add, change, delete
    on_record: bool
    success: int

    @property
    def is_list(self) -> bool:
        return self.name in ("list", "detailed_list")

    @property
    def writes(self) -> bool:
        return self.method in ("post", "put", "patch", "delete")


OPERATIONS = {
    op.name: op
    for op in (
        Operation("list", "get", "view", False, 200),
        Operation("detailed_list", "get", "view", False, 200),
        Operation("create", "post", "add", False, 201),
        Operation("retrieve", "get", "view", True, 200),
        Operation("detailed", "get", "view", True, 200),
        Operation("update", "put", "change", True, 200),
        Operation("partial_update", "patch", "change", True, 200),
        Operation("destroy", "delete", "delete", True, 204),
    )
}

# A filter case: (route, scope) -> (query value, records it matches, records it does not match).
FilterCase = Callable[["Route", dict], tuple[str, list, list]]


def plain(value: str, match: dict | list[dict], miss: dict | list[dict]) -> FilterCase:
    """A filter case from field values: the records made with `match` are listed for `value`, those with `miss` not."""
    matches = [match] if isinstance(match, dict) else match
    misses = [miss] if isinstance(miss, dict) else miss

    def case(route: "Route", scope: dict):
        return value, [route.make(scope, **f) for f in matches], [route.make(scope, **f) for f in misses]

    return case


def ids_in(route: "Route", scope: dict):
    """The `pk__in` case: two records named by id, a third not."""
    wanted = [route.make(scope), route.make(scope)]
    return ",".join(str(r.pk) for r in wanted), wanted, [route.make(scope)]


class Route:
    """What a route declares; the defaults suit a route with nothing of its own."""

    name: str  # names the query-count file
    model: type
    operations: tuple[str, ...]
    conditional = True  # its records carry ETags: If-None-Match and If-Match apply
    idempotent = True  # its POST honours Idempotency-Key
    filterset = None
    text_fields: dict[str, int] = {}  # writable string fields and their maximum length
    json_fields: tuple[str, ...] = ()  # writable JSON-object fields
    read_only: dict = {}  # fields a body may carry and the service must ignore, with a value to send
    filters: dict[str, FilterCase] = {}
    # Field values of three records whose every sort field differs from the id order one way or the other.
    sort_records: tuple[dict, ...] = ({}, {}, {})

    @property
    def permission_model(self) -> str:
        return self.model._meta.model_name

    def scope(self) -> dict:
        """The records the route's path needs (a channel, an order); none by default."""
        return {}

    def list_path(self, scope: dict) -> str:
        raise NotImplementedError

    def path(self, scope: dict, op: Operation, record=None) -> str:
        base = self.list_path(scope)
        if op.on_record:
            base = f"{base}{record.pk}/"
        return f"{base}detailed/" if op.name in ("detailed", "detailed_list") else base

    def make(self, scope: dict, **fields):
        """A record listed on this route."""
        raise NotImplementedError

    def create_body(self, scope: dict) -> dict:
        raise NotImplementedError

    def update_body(self, scope: dict, record) -> dict:
        """A valid PUT body for `record`."""
        raise NotImplementedError

    def patch_body(self, scope: dict, record) -> dict:
        raise NotImplementedError

    def body(self, scope: dict, op: Operation, record) -> dict | None:
        return {
            "create": lambda: self.create_body(scope),
            "update": lambda: self.update_body(scope, record),
            "partial_update": lambda: self.patch_body(scope, record),
        }.get(op.name, lambda: None)()

    def stored(self, record) -> dict:
        """What the database holds for `record`, to tell whether a request changed it."""
        fresh = type(record).objects.filter(pk=record.pk).first()
        return None if fresh is None else model_to_dict(fresh)


def made(factory, **fields):
    """`factory(**fields)`, with the automatic dates set afterwards (auto_now_add and auto_now ignore a value)."""
    dates = {name: fields.pop(name) for name in ("created_date", "modified_date") if name in fields}
    record = factory(**fields)
    if dates:
        type(record).objects.filter(pk=record.pk).update(**dates)
        record.refresh_from_db()
    return record


def call(client: APIClient, op: Operation, path: str, body: dict | None = None, **headers):
    if body is None:
        return getattr(client, op.method)(path, **headers)
    return getattr(client, op.method)(path, body, format="json", **headers)


def token_for(*codenames: str, everything_but: str | None = None) -> APIClient:
    """A client whose user holds exactly `codenames`, or every API permission but `everything_but`."""
    user = get_user_model().objects.create_user(f"user-{get_user_model().objects.count()}")
    permissions = Permission.objects.filter(content_type__app_label__in=API_MODELS)
    permissions = (
        permissions.exclude(codename=everything_but) if everything_but else permissions.filter(codename__in=codenames)
    )
    user.user_permissions.add(*permissions)
    _, key = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def rows(response) -> list[dict]:
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def links(response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.get("Link", ""))}


def applies(select: Callable[["Route", Operation], bool]):
    """Runs the decorated case for the route's operations `select` accepts (tests/conftest.py parametrizes them)."""

    def mark(test):
        test.applies_to = select
        return test

    return mark


PERMISSION_DENIED = {"detail": "You do not have permission to perform this action.", "code": "permission_denied"}
UNAVAILABLE = {"detail": "The service is temporarily unavailable; try again later.", "code": "service_unavailable"}
# Tables the token check reads: a database failing after them fails inside the view.
AUTH_TABLES = ("knox_authtoken", "auth_user", "auth_permission", "auth_group", "django_content_type")


class RouteTests:
    """The standard matrix; a subclass sets `route`."""

    route: Route

    @pytest.fixture
    def scope(self, db) -> dict:
        return self.route.scope()

    @pytest.fixture
    def record(self, scope):
        return self.route.make(scope)

    def request(self, client, scope, op, record, body=None, **headers):
        body = self.route.body(scope, op, record) if body is None else body
        return call(client, op, self.route.path(scope, op, record), body, **headers)

    # --- authentication and permissions ---------------------------------------------------------------------

    def test_a_missing_token_is_401_not_authenticated(self, anon, scope, record, operation):
        response = self.request(anon, scope, operation, record)
        assert response.status_code == 401
        assert response.json() == {
            "detail": "Authentication credentials were not provided.",
            "code": "not_authenticated",
        }
        assert response["WWW-Authenticate"] == "Token"

    def test_an_unknown_token_is_401_authentication_failed(self, anon, scope, record, operation):
        anon.credentials(HTTP_AUTHORIZATION=f"Token {'0' * 64}")
        response = self.request(anon, scope, operation, record)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}

    def test_without_the_model_permission_it_is_exactly_403(self, scope, record, operation):
        needed = f"{operation.permission}_{self.route.permission_model}"
        before, count = self.route.stored(record), self.route.model.objects.count()
        response = self.request(token_for(everything_but=needed), scope, operation, record)
        assert response.status_code == 403
        assert response.json() == PERMISSION_DENIED
        assert (self.route.stored(record), self.route.model.objects.count()) == (before, count)

    def test_the_model_permission_alone_is_enough(self, scope, record, operation):
        count = self.route.model.objects.count()
        client = token_for(f"{operation.permission}_{self.route.permission_model}")
        response = self.request(client, scope, operation, record)
        assert response.status_code == operation.success, response.content
        if operation.name == "create":
            assert self.route.model.objects.count() == count + 1
            assert self.route.model.objects.filter(pk=response.json()["pk"]).exists()
        elif operation.name == "destroy":
            assert self.route.stored(record) is None
        elif operation.is_list:
            assert [row["pk"] for row in rows(response)] == [record.pk]
        else:
            assert response.json()["pk"] == record.pk
            stored = self.route.model.objects.get(pk=record.pk)
            for name, value in (self.route.body(scope, operation, record) or {}).items():
                if name in self.route.text_fields:  # what a write sent is what is stored
                    assert getattr(stored, name) == value, name

    # --- lists -----------------------------------------------------------------------------------------------

    @applies(lambda route, op: op.is_list)
    def test_the_array_format_counts_and_links_pages(self, api, scope, operation):
        made = [self.route.make(scope) for _ in range(3)]
        path = self.route.path(scope, operation)
        first = api.get(path, {"limit": 2})
        assert first.status_code == 200
        assert [row["pk"] for row in first.json()] == [r.pk for r in made[:2]]
        assert first["X-Total-Count"] == "3"
        assert set(links(first)) == {"first", "next", "last"}
        second = api.get(links(first)["next"])
        assert [row["pk"] for row in second.json()] == [made[2].pk]
        assert set(links(second)) == {"first", "prev", "last"}
        assert links(second)["last"] == links(first)["last"]

    @applies(lambda route, op: op.is_list)
    def test_the_paginated_envelope_counts_and_links_pages(self, api, scope, operation, settings):
        settings.OMNITRON_LIST_FORMAT = "paginated"
        made = [self.route.make(scope) for _ in range(3)]
        first = api.get(self.route.path(scope, operation), {"limit": 2}).json()
        assert set(first) == {"count", "next", "previous", "results"}
        assert (first["count"], first["previous"]) == (3, None)
        assert [row["pk"] for row in first["results"]] == [r.pk for r in made[:2]]
        second = api.get(first["next"]).json()
        assert [row["pk"] for row in second["results"]] == [made[2].pk]
        assert (second["count"], second["next"]) == (3, None)
        assert api.get(second["previous"]).json() == first

    @applies(lambda route, op: op.is_list)
    def test_limit_and_page_at_and_past_their_edges(self, api, scope, operation):
        path = self.route.path(scope, operation)
        assert api.get(path).json() == []  # an empty list still has its first page
        made = [self.route.make(scope) for _ in range(2)]
        assert [row["pk"] for row in api.get(path, {"limit": 1, "page": 2}).json()] == [made[1].pk]
        assert len(api.get(path, {"limit": 1000}).json()) == 2
        for limit in ("0", "1001", "-1", "x"):
            response = api.get(path, {"limit": limit})
            assert response.status_code == 400, limit
            assert "limit" in response.json()
        for page in ("0", "3", "x"):
            response = api.get(path, {"limit": 1, "page": page})
            assert response.status_code == 404, page
            assert response.json()["code"] == "not_found"

    @applies(lambda route, op: op.is_list and route.filterset is not None)
    def test_every_sort_field_orders_both_ways(self, api, scope, operation):
        made = [self.route.make(scope, **fields) for fields in self.route.sort_records]
        path = self.route.path(scope, operation)
        stored = self.route.model.objects.filter(pk__in=[r.pk for r in made])
        for field in self.route.filterset.base_filters["sort"].param_map:
            values = dict(stored.values_list("pk", field))
            # The id breaks ties, ascending either way (apicore.filters.SortFilter); sorted() keeps equal ones in order.
            ascending = sorted(sorted(values), key=values.get)
            descending = sorted(sorted(values), key=values.get, reverse=True)
            assert sorted(values) != descending, f"{field}: sort_records must not be in id order both ways"
            assert [row["pk"] for row in api.get(path, {"sort": field}).json()] == ascending, field
            assert [row["pk"] for row in api.get(path, {"sort": f"-{field}"}).json()] == descending, field

    # --- conditional requests --------------------------------------------------------------------------------

    @applies(lambda route, op: route.conditional and op.on_record and op.method == "get")
    def test_if_none_match_with_the_current_etag_is_304(self, api, scope, record, operation):
        path = self.route.path(scope, operation, record)
        etag = api.get(path)["ETag"]
        assert re.fullmatch(r'"[^"]+"', etag)
        unchanged = api.get(path, HTTP_IF_NONE_MATCH=etag)
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged["ETag"] == etag
        assert api.get(path, HTTP_IF_NONE_MATCH='"another"').status_code == 200

    @applies(lambda route, op: route.conditional and op.on_record and op.writes)
    def test_a_stale_if_match_is_412_and_changes_nothing(self, api, scope, record, operation):
        before = self.route.stored(record)
        response = self.request(api, scope, operation, record, HTTP_IF_MATCH='"stale"')
        assert response.status_code == 412
        assert response.json()["code"] == "precondition_failed"
        assert self.route.stored(record) == before
        current = api.get(self.route.path(scope, OPERATIONS["retrieve"], record))["ETag"]
        assert self.request(api, scope, operation, record, HTTP_IF_MATCH=current).status_code == operation.success

    # --- idempotent creates ----------------------------------------------------------------------------------

    @applies(lambda route, op: route.idempotent and op.name == "create")
    def test_a_retry_with_the_idempotency_key_replays_the_answer(self, api, scope, operation):
        path, body = self.route.path(scope, operation), self.route.create_body(scope)
        count = self.route.model.objects.count()
        first = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
        retry = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
        assert first.status_code == 201
        assert (retry.status_code, retry.content) == (first.status_code, first.content)
        # Every header of the answer (ETag, Content-Type, ...) but the rate limit's, which counts each request, and
        # the request's own id.
        assert {k: v for k, v in retry.items() if not k.startswith(("RateLimit", "Idempotent", "X-Request-ID"))} == {
            k: v for k, v in first.items() if not k.startswith(("RateLimit", "X-Request-ID"))
        }
        assert (retry["Idempotent-Replayed"], "Idempotent-Replayed" in first) == ("true", False)
        assert self.route.model.objects.count() == count + 1

    @applies(lambda route, op: route.idempotent and op.name == "create")
    def test_the_idempotency_key_of_another_request_is_422(self, api, scope, operation):
        path, body = self.route.path(scope, operation), self.route.create_body(scope)
        assert api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
        count = self.route.model.objects.count()
        other = api.post(path, {**body, "unknown": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert self.route.model.objects.count() == count

    @applies(lambda route, op: route.idempotent and op.name == "create")
    def test_a_retry_while_the_first_request_runs_is_409(self, api, user, scope, operation):
        path, body = self.route.path(scope, operation), self.route.create_body(scope)
        raw = json.dumps(body).encode()
        IdempotencyKey.objects.create(user=user, key="k", fingerprint=fingerprint("POST", path, raw))  # in flight
        count = self.route.model.objects.count()
        response = api.generic("POST", path, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_in_use"
        assert response["Retry-After"] == "1"
        assert self.route.model.objects.count() == count

    # --- outages ---------------------------------------------------------------------------------------------

    def test_a_database_failing_after_the_token_check_is_503(self, api, scope, record, operation):
        def unreachable(execute, sql, params, many, context):
            if any(table in sql for table in AUTH_TABLES) or sql.lstrip().upper().startswith(
                ("SAVEPOINT", "RELEASE", "ROLLBACK")
            ):
                return execute(sql, params, many, context)
            raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

        body = self.route.body(scope, operation, record)
        path = self.route.path(scope, operation, record)
        with connection.execute_wrapper(unreachable):
            response = call(api, operation, path, body)
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response.json() == UNAVAILABLE

    # --- bodies ----------------------------------------------------------------------------------------------

    @applies(lambda route, op: op.name in ("create", "partial_update") and (route.text_fields or route.json_fields))
    def test_nul_characters_in_any_text_or_json_field_are_400_naming_it(self, api, scope, record, operation):
        body = self.route.body(scope, operation, record)
        for field in [*self.route.text_fields, *self.route.json_fields]:
            value = "a\x00b" if field in self.route.text_fields else {"key": "a\x00b"}
            self.assert_refused(api, scope, record, operation, {**body, field: value}, field)

    @applies(lambda route, op: op.name in ("create", "partial_update") and (route.text_fields or route.json_fields))
    def test_over_long_text_and_over_deep_json_are_400_naming_the_field(self, api, scope, record, operation):
        body = self.route.body(scope, operation, record)
        for field, limit in self.route.text_fields.items():
            self.assert_refused(api, scope, record, operation, {**body, field: "x" * (limit + 1)}, field)
        for field in self.route.json_fields:
            deep: dict = {}
            for _ in range(40):
                deep = {"k": deep}
            self.assert_refused(api, scope, record, operation, {**body, field: deep}, field)

    def assert_refused(self, api, scope, record, op, body, field):
        before, count = self.route.stored(record), self.route.model.objects.count()
        response = self.request(api, scope, op, record, body)
        assert response.status_code == 400, (field, response.content)
        assert field in response.json(), (field, response.json())
        assert (self.route.stored(record), self.route.model.objects.count()) == (before, count), field

    @applies(lambda route, op: op.name in ("create", "update", "partial_update") and route.read_only)
    def test_read_only_fields_in_a_body_are_ignored(self, api, scope, record, operation):
        body = {**self.route.body(scope, operation, record), **self.route.read_only}
        response = self.request(api, scope, operation, record, body)
        assert response.status_code == operation.success, response.content
        answered = response.json()
        stored = model_to_dict(self.route.model.objects.get(pk=answered["pk"]))
        for name, sent in self.route.read_only.items():
            assert answered[name] != sent, name
            if name in stored:
                assert stored[name] != sent, name

    # --- filters ---------------------------------------------------------------------------------------------

    @applies(lambda route, op: op.is_list and route.filterset is not None)
    def test_every_declared_filter_has_a_case(self, operation):
        """Like NetBox's filterset tests: a filter without a case (or a case without a filter) fails here."""
        declared = set(self.route.filterset.base_filters) - {"sort"}  # sort: the sort case
        cased = set(self.route.filters)
        json_cased = {name.split("__")[0] for name in cased - declared}
        assert declared - cased == set(), "filters without a case"
        assert json_cased == set(getattr(self.route.filterset.Meta, "json_fields", ())), "cases without a filter"

    @applies(lambda route, op: op.is_list)
    def test_each_filter_lists_its_match_and_not_its_miss(self, api, scope, operation, filter_name):
        value, matches, misses = self.route.filters[filter_name](self.route, scope)
        assert matches and misses, f"{filter_name}: a case needs a match and a miss"
        response = api.get(self.route.path(scope, operation), {filter_name: value, "limit": 1000})
        assert response.status_code == 200, response.content
        assert sorted(row["pk"] for row in rows(response)) == sorted(r.pk for r in matches), filter_name

    # --- query counts ----------------------------------------------------------------------------------------

    def test_the_queries_of_each_operation_are_pinned(self, api, scope, record, operation, request):
        for _ in range(2):  # a list of several records costs what a list of one does
            self.route.make(scope)
        body = self.route.body(scope, operation, record)
        path = self.route.path(scope, operation, record)
        with CaptureQueriesContext(connection) as captured:
            response = call(api, operation, path, body)
        assert response.status_code == operation.success, response.content
        assert_pinned(request, self.route.name, operation.name, captured)


def assert_pinned(request, name: str, what: str, captured: CaptureQueriesContext) -> None:
    """`captured` holds as many queries as tests/query_counts/<name>.json pins for `what` on this database; with
    `pytest --update-query-counts`, the file is written with the measured number instead (review its diff)."""
    key = f"{connection.vendor}:{what}"
    path = QUERY_COUNTS / f"{name}.json"
    counts = json.loads(path.read_text()) if path.exists() else {}
    if request.config.getoption("--update-query-counts"):
        counts[key] = len(captured)
        QUERY_COUNTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(dict(sorted(counts.items())), indent=2) + "\n")
    assert key in counts, f"no count for {key} in {path}: run pytest --update-query-counts"
    assert len(captured) == counts[key], [query["sql"] for query in captured]
