import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from knox.models import AuthToken
from rest_framework.test import APIClient


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
