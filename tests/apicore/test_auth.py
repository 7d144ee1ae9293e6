import pytest
from knox.models import AuthToken

CUSTOMERS = "/api/v1/customers/"
LOGIN = "/api/v1/auth/login/"


def test_login_returns_a_token_that_authenticates(anon, user):
    response = anon.post(LOGIN, {"username": "integrator", "password": "s3cret-pass"}, format="json")
    assert response.status_code == 200
    key = response.json()["key"]
    anon.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert anon.get(CUSTOMERS).status_code == 200


def test_tokens_are_stored_only_as_digests(anon, user):
    key = anon.post(LOGIN, {"username": "integrator", "password": "s3cret-pass"}, format="json").json()["key"]
    stored = AuthToken.objects.get(user=user)
    assert key not in (stored.digest, stored.token_key)
    assert len(stored.token_key) < len(key)


@pytest.mark.parametrize(
    "body",
    [{"username": "integrator", "password": "wrong"}, {"username": "nobody", "password": "s3cret-pass"}],
    ids=["wrong-password", "unknown-user"],
)
def test_login_with_bad_credentials_is_400_non_field_errors(anon, user, body):
    response = anon.post(LOGIN, body, format="json")
    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert response.json()["code"] == "authorization"


def test_login_with_missing_fields_names_them(anon):
    response = anon.post(LOGIN, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password", "code"}
    assert response.json()["code"] == "required"


def test_inactive_user_cannot_log_in(anon, user):
    user.is_active = False
    user.save()
    response = anon.post(LOGIN, {"username": "integrator", "password": "s3cret-pass"}, format="json")
    assert response.status_code == 400


def test_missing_token_is_401_not_authenticated(anon):
    response = anon.get(CUSTOMERS)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "header",
    ["Token " + "0" * 64, "Token not-a-token", "Token a\x00b", "Token é", "Token", "Token a b"],
    ids=["unknown", "malformed", "nul", "non-ascii", "empty", "spaces"],
)
def test_unknown_or_malformed_token_is_401_authentication_failed(anon, header):
    anon.credentials(HTTP_AUTHORIZATION=header)
    response = anon.get(CUSTOMERS)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_token_of_a_deactivated_user_is_refused(api, user):
    user.is_active = False
    user.save()
    response = api.get(CUSTOMERS)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", CUSTOMERS),
        ("post", CUSTOMERS),
        ("get", "/api/v1/customers/detailed/"),
        ("get", "/api/v1/customers/1/"),
        ("put", "/api/v1/customers/1/"),
        ("patch", "/api/v1/customers/1/"),
        ("delete", "/api/v1/customers/1/"),
        ("get", "/api/v1/customers/1/detailed/"),
    ],
)
def test_every_customer_operation_requires_a_token(anon, method, path):
    response = getattr(anon, method)(path, {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_an_expired_token_is_refused_and_deleted(api, user):
    from datetime import timedelta

    from django.utils import timezone

    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    response = api.get(CUSTOMERS)
    assert response.status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_authentication_costs_one_query_however_many_tokens_the_user_has(api, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(20):
        AuthToken.objects.create(user=user)
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/customers/999/")
    # the token (joined with its user), the user's permissions (apicore.permissions) and the customer lookup
    assert len(queries) == 3
