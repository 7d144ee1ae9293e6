import datetime
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory

UTC = datetime.UTC
# Unicode, nesting and odd numbers, for JSON fields.
NESTED = {"ürün": {"beden": {"eu": 42, "us": "9½"}}, "liste": [1, 2.5, None, True, {"k": ["ş", "ğ"]}], "boş": {}}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create a user each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # Rate-limit counters live in the cache: every test starts with none, whatever ran before it in this process.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


# The models the API serves; a token needs their permissions (view, add, change, delete) to use them.
API_MODELS = {"channels": ["channel"], "customers": ["customer"], "orders": ["order", "refund"]}


def grant(user, *codenames: str) -> None:
    """Gives `user` the named permissions (`view_customer`, ...), or with none named, every one of the API's models."""
    permissions = Permission.objects.filter(
        content_type__app_label__in=API_MODELS,
        content_type__model__in=[model for models in API_MODELS.values() for model in models],
    )
    if codenames:
        permissions = permissions.filter(codename__in=codenames)
        assert permissions.count() == len(codenames), f"unknown permission among {codenames}"
    user.user_permissions.add(*permissions)


def token_client(user) -> APIClient:
    """A client that authenticates the way integrations do: `Authorization: Token <key>`."""
    _, key = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def user(db):
    """An integration's user: every permission on the API's models, not a superuser."""
    user = get_user_model().objects.create_user("integrator", password="s3cret-pass")
    grant(user)
    return user


@pytest.fixture
def token(user) -> str:
    _, key = AuthToken.objects.create(user=user)
    return key


@pytest.fixture
def api(token) -> APIClient:
    """A client that authenticates the way integrations do: `Authorization: Token <key>`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def user_without_permissions(db):
    return get_user_model().objects.create_user("bystander", password="s3cret-pass")


@pytest.fixture
def api_without_permissions(user_without_permissions) -> APIClient:
    """A valid token whose user holds no permission at all."""
    return token_client(user_without_permissions)


@pytest.fixture
def anon(db) -> APIClient:
    return APIClient()


@pytest.fixture
def rich(db):
    """Customers with every field set (unicode, nested JSON, odd numbers), with every nullable field null, and with
    orders and refunds, in a channel with every field set and without one."""
    channel = ChannelFactory(
        name="Mağaza “Web” \u2028 şube",
        catalog=2**31 - 1,
        channel_type="trendyol",
        conf={"anahtar": "değer", "url": "https://example.com/ç"},
        category_tree="Kök > Giyim",
        is_active=False,
        schema={"type": "object", "properties": NESTED},
    )
    full = CustomerFactory(
        channel=channel,
        email="çağla.şükrü@example.com",
        first_name="Çağla İpek",
        last_name="Öztürk-Şahin 🙂",
        phone_number="+90 555 000 00 00",
        is_active=True,
        erp_code="ERP/ğ-1",
        attributes={**NESTED, "tiny": 1e-05, "huge": 1.5e300, "big": 2**70, "neg": -0.0, "line": "a\u2029b\x01"},
        attribute_kwargs={"a": 1},
        localized_attributes={"tr": {"ad": "Ahmet"}, "en": {"name": "Ahmed"}},
        localized_attribute_kwargs={"b": [None]},
        extra_field={"sadakat": "altin ğ", "puan": 12.75},
        email_allowed=True,
        sms_allowed=True,
        call_allowed=True,
        date_joined=datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        gender="female",
        user_type="registered",
        date_of_birth=datetime.date(1990, 5, 17),
    )
    empty = CustomerFactory(
        channel=None,
        first_name="",
        last_name="",
        phone_number=None,
        is_active=False,
        erp_code=None,
        date_joined=None,
        gender=None,
        user_type=None,
        date_of_birth=None,
    )
    blank_choice = CustomerFactory(
        channel=channel, gender="", user_type="", date_joined=datetime.datetime(1, 1, 1, tzinfo=UTC)
    )
    first = OrderFactory(customer=full, channel=channel, amount=Decimal("250.10"), discount_amount=Decimal("20.05"))
    OrderFactory(customer=full, channel=channel, amount=Decimal("0.01"))
    RefundFactory(order=first, amount=Decimal("10.00"))
    RefundFactory(order=first, amount=Decimal("0.03"))
    return {"channel": channel, "customers": [full, empty, blank_choice], "order": first}


# --- the read path, in the shadow of every GET the tests make ------------------------------------------------------

READ_PATH_ANSWERED = []  # (path, status) of every GET the read path answered in the shadow, for the summary


@pytest.fixture(autouse=True)
def _read_path_shadow(request, monkeypatch):
    """On PostgreSQL, every GET a test sends through Django's test client is also sent to the read path
    (apicore.readpath), which must either decline it or answer exactly what Django answered: status, headers and
    body. The read path counts nothing against the rate limit here: it is given the usage Django's answer reported.
    Answers Django gave with a 5xx are not compared (a test breaking the database for Django breaks it only there).
    """
    from django.db import connection

    if connection.vendor != "postgresql" or "no_read_path_shadow" in request.keywords:
        yield
        return
    from django.core import signals
    from django.db import close_old_connections
    from django.test.client import ClientHandler

    from apicore import readpath, throttling

    shadow = readpath.ReadPath(app=None)
    original = ClientHandler.__call__

    def call(handler, environ):
        response = original(handler, environ)
        if environ.get("REQUEST_METHOD") == "GET" and response.status_code < 500:
            _compare_with_read_path(shadow, environ, response, signals, close_old_connections, throttling)
        return response

    monkeypatch.setattr(ClientHandler, "__call__", call)
    yield


def _compare_with_read_path(shadow, environ, response, signals, close_old_connections, throttling):
    import io

    usage = None
    if "RateLimit-Limit" in response:
        rate = throttling.Rate(int(response["RateLimit-Limit"]), int(response["RateLimit-Policy"].split("w=")[1]))
        # Remaining stops at 0: a 429 was over the limit.
        count = rate.limit + 1 if response.status_code == 429 else rate.limit - int(response["RateLimit-Remaining"])
        usage = throttling.Usage(rate, count, int(response["RateLimit-Reset"]))
    env = {**environ, "wsgi.input": io.BytesIO(b"")}
    # A request without a (sane) id of its own gets a new one from each side: the read path is given Django's.
    env["HTTP_X_REQUEST_ID"] = response.get("X-Request-ID", "")
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    real_usage = throttling.token_usage
    throttling.token_usage = lambda token: usage
    try:
        answered = shadow.answer(env)
    finally:
        throttling.token_usage = real_usage
        for signal in (signals.request_started, signals.request_finished):
            signal.connect(close_old_connections)
    if answered is None:
        return
    status, headers, body = answered
    path = f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}"
    assert (int(status.split()[0]), dict(headers), body) == (
        response.status_code,
        dict(response.items()),
        response.content,
    ), f"the read path answered {path} otherwise than Django"
    READ_PATH_ANSWERED.append((path, response.status_code))


# --- the standard cases of tests/resources.py --------------------------------------------------------------------


def pytest_addoption(parser):
    parser.addoption(
        "--update-query-counts",
        action="store_true",
        help="write the query counts measured on this database into tests/query_counts/ instead of comparing",
    )


def pytest_generate_tests(metafunc):
    """Each standard case of a route's test class runs for every operation (and filter) of the route it applies to;
    a case that applies to none is deselected, not skipped."""
    route = getattr(metafunc.cls, "route", None)
    if route is None:
        return
    from tests.resources import OPERATIONS

    if "operation" in metafunc.fixturenames:
        applies = getattr(metafunc.function, "applies_to", lambda route, op: True)
        ops = [OPERATIONS[name] for name in route.operations if applies(route, OPERATIONS[name])]
        metafunc.parametrize("operation", [pytest.param(op, id=op.name) for op in ops] or [NOT_APPLICABLE])
    if "filter_name" in metafunc.fixturenames:
        metafunc.parametrize("filter_name", list(route.filters) or [NOT_APPLICABLE])


NOT_APPLICABLE = pytest.param(None, id="not-applicable", marks=pytest.mark.not_applicable)


def pytest_collection_modifyitems(config, items):
    deselected = [item for item in items if item.get_closest_marker("not_applicable")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("not_applicable")]


def pytest_terminal_summary(terminalreporter):
    if READ_PATH_ANSWERED:
        lists = sum("?" in path and not path.endswith("?") for path, _ in READ_PATH_ANSWERED)
        terminalreporter.write_line(
            f"read path: {len(READ_PATH_ANSWERED)} GETs answered exactly as Django answered them "
            f"({lists} with a query string)"
        )
