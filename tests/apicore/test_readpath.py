"""The read path (apicore.readpath) answers exactly what DRF answers: every request here is sent both ways, at the
WSGI level, and the status, headers and body bytes compared. On SQLite the read path answers nothing.
"""

import io
from urllib.parse import urlencode

import psycopg
import pytest
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from apicore import readpath, throttling
from tests.conftest import grant
from tests.factories import CustomerFactory

postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the read path serves PostgreSQL only")


def environ(path: str, headers: dict | None = None, method: str = "GET") -> dict:
    path, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "SCRIPT_NAME": "",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    env.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in (headers or {}).items()})
    return env


def through_django(env: dict) -> tuple[str, dict, bytes]:
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers

    body = b"".join(WSGIHandler()(env, start_response))
    return seen["status"], dict(seen["headers"]), body


@pytest.fixture(autouse=True)
def _connection_kept_open():
    """Inside a test's transaction the connection stays open across requests, as Django's test client keeps it."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def paths(monkeypatch):
    """Sends a request both ways; asserts the read path answered it, and answered it as DRF did."""
    monkeypatch.setattr(throttling, "clock", lambda: 1_000_000.5)  # one rate-limit window for both
    path = readpath.ReadPath(app=None)

    def compare(url: str, headers: dict | None = None) -> tuple[str, dict, bytes]:
        headers = {"X-Request-ID": "compared", **(headers or {})}  # else each side makes its own
        cache.clear()
        expected = through_django(environ(url, headers))
        cache.clear()
        answered = path.answer(environ(url, headers))
        assert answered is not None, f"the read path did not answer {url}; Django: {expected}"
        status, header_list, body = answered
        assert (status, dict(header_list), body) == expected
        return expected

    return compare


@pytest.fixture
def sent(monkeypatch) -> list:
    """The statements sent through psycopg's cursor (the read path's; Django's own go through its cursor wrapper)."""
    statements = []
    execute = psycopg.Cursor.execute

    def recording(cursor, query, *args, **kwargs):
        statements.append(query)
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    return statements


@pytest.fixture
def auth(token) -> dict:
    return {"Authorization": f"Token {token}"}


def record_paths(records) -> list[str]:
    web, rich, plain, order = records["web"], records["rich"], records["plain"], records["order"]
    return [
        f"/api/v1/customers/{rich.pk}/",
        f"/api/v1/customers/{plain.pk}/",
        f"/api/v1/customers/{rich.pk}/detailed/",
        f"/api/v1/customers/{plain.pk}/detailed/",
        f"/api/v1/channel/{web.pk}/customers/{rich.pk}/",
        f"/api/v1/channel/{web.pk}/customers/{rich.pk}/detailed/",
        f"/api/v1/channels/{web.pk}/",
        f"/api/v1/channels/{records['market'].pk}/",
        f"/api/v1/orders/{order.pk}/",
    ]


@postgresql
def test_every_record_is_answered_as_drf_answers_it(paths, records, auth):
    for path in record_paths(records):
        assert paths(path, auth)[0] == "200 OK", path


@postgresql
def test_if_none_match_is_answered_as_drf_answers_it(paths, records, auth):
    for path in record_paths(records):
        etag = paths(path, auth)[1]["ETag"]
        for header in (etag, f'"x", {etag}', "*", 'W/"other"', '"other"'):
            paths(path, {**auth, "If-None-Match": header})


@postgresql
def test_the_request_id_is_echoed_when_sane_and_made_otherwise(records, auth):
    url = f"/api/v1/customers/{records['rich'].pk}/"
    path = readpath.ReadPath(app=None)
    assert dict(path.answer(environ(url, {**auth, "X-Request-ID": "trace-1"}))[1])["X-Request-ID"] == "trace-1"
    for sent in ({}, {"X-Request-ID": "has space"}, {"X-Request-ID": "x" * 201}):
        made = dict(path.answer(environ(url, {**auth, **sent}))[1])["X-Request-ID"]
        assert len(made) == 32 and made != sent.get("X-Request-ID")


@postgresql
def test_a_superuser_and_a_group_member_are_answered_as_drf_answers_them(paths, records, django_user_model):
    from django.contrib.auth.models import Group, Permission

    boss = django_user_model.objects.create_superuser("boss", password=None)
    group = Group.objects.create(name="readers")
    group.permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    member = django_user_model.objects.create_user("member")
    member.groups.add(group)
    for holder in (boss, member):
        _, key = AuthToken.objects.create(user=holder)
        for path in record_paths(records):
            paths(path, {"Authorization": f"Token {key}"})


@postgresql
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Token " + "0" * 64},
        {"Authorization": "Token not-a-token!"},
        {"Authorization": "Bearer abc"},
    ],
    ids=["no token", "unknown token", "malformed token", "other scheme"],
)
def test_requests_that_fail_authentication_go_to_django(records, headers):
    for path in record_paths(records):
        assert readpath.ReadPath(app=None).answer(environ(path, headers)) is None


@postgresql
def test_an_expired_token_an_inactive_user_and_a_missing_permission_go_to_django(records, user, token, auth):
    import datetime

    from django.utils import timezone

    path = readpath.ReadPath(app=None)
    url = f"/api/v1/customers/{records['rich'].pk}/"
    assert path.answer(environ(url, auth)) is not None
    AuthToken.objects.update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    assert path.answer(environ(url, auth)) is None
    AuthToken.objects.update(expiry=None)
    user.is_active = False
    user.save()
    assert path.answer(environ(url, auth)) is None
    user.is_active = True
    user.save()
    user.user_permissions.clear()
    grant(user, "view_channel")
    assert path.answer(environ(url, auth)) is None
    assert path.answer(environ(f"/api/v1/channels/{records['web'].pk}/", auth)) is not None


@postgresql
def test_missing_records_and_other_channels_records_go_to_django(records, auth):
    path = readpath.ReadPath(app=None)
    for url in (
        "/api/v1/customers/999999/",
        f"/api/v1/customers/{2**63}/",
        "/api/v1/customers/abc/",
        f"/api/v1/channel/{records['web'].pk}/customers/{records['stranger'].pk}/",
        f"/api/v1/channel/999999/customers/{records['rich'].pk}/",
        "/api/v1/orders/999999/",
    ):
        assert path.answer(environ(url, auth)) is None, url


@postgresql
@pytest.mark.parametrize(
    "extra",
    [
        {"headers": {"If-Match": '"x"'}},
        {"headers": {"If-None-Match": "not-quoted"}},
        {"headers": {"Accept": "text/html"}},
        {"headers": {"X-Something": "1"}},
        {"query": "?format=json"},
        {"query": "?email=x"},
        {"method": "HEAD"},
        {"method": "POST"},
    ],
    ids=["if-match", "malformed if-none-match", "accept html", "unknown header", "format", "filter on a record",
         "head", "post"],
)  # fmt: skip
def test_what_the_read_path_does_not_know_goes_to_django(records, auth, extra):
    url = f"/api/v1/customers/{records['rich'].pk}/" + extra.get("query", "")
    env = environ(url, {**auth, **extra.get("headers", {})}, extra.get("method", "GET"))
    seen = []
    app = readpath.ReadPath(app=lambda env, start_response: seen.append(env) or [b""])
    app(env, lambda *args: None)
    assert seen == [env]


@postgresql
def test_each_record_read_is_one_statement(records, auth, sent):
    path = readpath.ReadPath(app=None)
    for url in record_paths(records):
        sent.clear()
        with CaptureQueriesContext(connection) as through_django:
            assert path.answer(environ(url, auth)) is not None
        assert len(sent) == 1, url
        assert through_django.captured_queries == [], url


@postgresql
def test_the_rate_limit_counts_read_path_answers_and_over_it_django_answers_429(records, auth, settings):
    settings.OMNITRON_RATE_LIMIT = "2/minute"
    path = readpath.ReadPath(app=None)
    cache.clear()
    url = f"/api/v1/customers/{records['rich'].pk}/"
    first = dict(path.answer(environ(url, auth))[1])
    second = dict(path.answer(environ(url, auth))[1])
    assert (first["RateLimit-Remaining"], second["RateLimit-Remaining"]) == ("1", "0")
    assert path.answer(environ(url, auth)) is None  # the third: DRF's 429


def test_on_sqlite_everything_goes_to_django(records, auth):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL: the read path answers")
    seen = []
    app = readpath.ReadPath(app=lambda env, start_response: seen.append(env) or [b""])
    env = environ(f"/api/v1/customers/{records['rich'].pk}/", auth)
    app(env, lambda *args: None)
    assert seen == [env]


# --- lists ---------------------------------------------------------------------------------------------------------


def _routes():
    from tests.channels.test_resource import Channels
    from tests.customers.test_resource import ChannelCustomers, Customers
    from tests.orders.test_resource import Orders, Refunds

    return [Customers(), ChannelCustomers(), Channels(), Orders(), Refunds()]


ROUTES = {route.name: route for route in _routes()}
LISTS = [(name, op) for name, route in ROUTES.items() for op in ("list", "detailed_list") if op in route.operations]


def list_path(route, scope, operation: str) -> str:
    from tests.resources import OPERATIONS

    return route.path(scope, OPERATIONS[operation])


@postgresql
@pytest.mark.parametrize(("name", "operation"), LISTS)
def test_every_list_is_answered_as_drf_answers_it(paths, auth, name, operation, settings):
    route = ROUTES[name]
    scope = route.scope()
    for _ in range(12):
        route.make(scope)
    url = list_path(route, scope, operation)
    for query in ("", "?limit=1", "?limit=10", "?limit=1000", "?limit=5&page=3", "?page=2", "?unknown=1&limit=2"):
        paths(url + query, auth)
    settings.OMNITRON_LIST_FORMAT = "paginated"
    for query in ("", "?limit=5", "?limit=5&page=2", "?limit=5&page=3"):
        paths(url + query, auth)
    assert readpath.ReadPath(app=None).answer(environ(url + "?limit=5&page=4", auth)) is None  # past the end: 404


@postgresql
@pytest.mark.parametrize(("name", "operation"), LISTS)
def test_every_filter_and_every_sort_is_answered_as_drf_answers_it(paths, auth, name, operation):
    route = ROUTES[name]
    scope = route.scope()
    url = list_path(route, scope, operation)
    values = {}
    for filter_name, case in route.filters.items():
        value, _, _ = case(route, scope)
        values[filter_name] = value
        paths(f"{url}?{urlencode({filter_name: value, 'limit': 1000})}", auth)
    names = list(values)
    for first, second in zip(names, names[1:] + names[:1], strict=True):  # each filter beside another
        paths(f"{url}?{urlencode({first: values[first], second: values[second]})}", auth)
    for fields in route.sort_records:
        route.make(scope, **fields)
    if route.filterset is not None:
        for field in route.filterset.base_filters["sort"].param_map:
            for term in (field, f"-{field}", f"-{field},pk"):
                paths(f"{url}?{urlencode({'sort': term, 'limit': 1000})}", auth)


@postgresql
def test_estimated_counts_are_answered_as_drf_answers_them(paths, auth, settings):
    settings.OMNITRON_EXACT_COUNT_LIMIT = 20
    customers = CustomerFactory.create_batch(60, attributes={"tier": "gold"})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    last = customers[-1].pk
    queries = [
        "",  # the planner's estimate: far above the limit, taken without counting
        "?email__startswith=customer",
        "?attributes__tier=gold",
        f"?pk__in={','.join(str(c.pk) for c in customers[:20])}",  # exactly the limit: counted
        f"?pk__in={','.join(str(c.pk) for c in customers[:30])}",  # above it, estimated low: at least limit + 1
        "?limit=10&page=6",  # the last page: its exact total
        "?created_date__gte=2000-01-01&sort=-pk&page=2&limit=7",
        f"?pk__in={last}&sort=-email",
    ]
    for query in queries:
        paths(f"/api/v1/customers/{query}", auth)
    settings.OMNITRON_EXACT_COUNT_LIMIT = 0  # always exact
    paths("/api/v1/customers/", auth)
    settings.OMNITRON_LIST_FORMAT = "paginated"
    settings.OMNITRON_EXACT_COUNT_LIMIT = 20
    paths("/api/v1/customers/?limit=3", auth)


@postgresql
@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=x", "page=0", "page=x", "page=99", "email_allowed=yes", "sort=colour",
     "created_date=yesterday", "pk__in=1,,2", "channel=999999", "channel=abc", "attributes__=1", "format=json",
     "email=a%00b"],
)  # fmt: skip
def test_a_list_request_drf_refuses_goes_to_django(records, auth, query):
    assert readpath.ReadPath(app=None).answer(environ(f"/api/v1/customers/?{query}", auth)) is None


@postgresql
def test_a_list_of_a_missing_channel_or_order_goes_to_django(db, auth):
    for url in ("/api/v1/channel/999999/customers/", "/api/v1/orders/999999/refunds/"):
        assert readpath.ReadPath(app=None).answer(environ(url, auth)) is None


@postgresql
def test_a_list_without_the_permission_goes_to_django(records, user, auth):
    user.user_permissions.clear()
    grant(user, "view_channel")
    path = readpath.ReadPath(app=None)
    assert path.answer(environ("/api/v1/customers/", auth)) is None
    assert path.answer(environ("/api/v1/channels/", auth)) is not None


@postgresql
def test_each_list_read_is_one_statement(records, auth, sent):
    path = readpath.ReadPath(app=None)
    for url in ("/api/v1/customers/?limit=1", "/api/v1/customers/detailed/?email__startswith=j",
                f"/api/v1/channel/{records['web'].pk}/customers/?sort=-email", "/api/v1/orders/?limit=1",
                f"/api/v1/orders/{records['order'].pk}/refunds/"):  # fmt: skip
        sent.clear()
        with CaptureQueriesContext(connection) as through_django:
            assert path.answer(environ(url, auth)) is not None, url
        assert len(sent) == 1, url
        assert through_django.captured_queries == [], url
