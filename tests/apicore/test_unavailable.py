"""A database that cannot be reached answers 503 JSON with Retry-After, wherever the failure meets the request."""

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from psycopg_pool import PoolTimeout

from apicore.authentication import TokenAuthentication
from apicore.middleware import CommonMiddleware
from customers.models import Customer
from customers.views import CustomerViewSet

CUSTOMERS = "/api/v1/customers/"
LOGIN = "/api/v1/auth/login/"
CUSTOMER = {
    "email": "outage@example.com",
    "channel_code": "outage-1",
    "is_active": True,
    "email_allowed": False,
    "sms_allowed": False,
    "call_allowed": False,
}
FAILURES = [
    OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused"),
    InterfaceError("connection already closed"),
    PoolTimeout("couldn't get a connection after 5.00 sec"),
]


def raiser(exc):
    def fail(*args, **kwargs):
        raise exc

    return fail


def assert_unavailable(response):
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "The service is temporarily unavailable; try again later.",
        "code": "service_unavailable",
    }


@pytest.mark.parametrize("exc", FAILURES, ids=type)
def test_database_failure_in_a_view_is_503(api, monkeypatch, exc):
    monkeypatch.setattr(CustomerViewSet, "list", raiser(exc))
    assert_unavailable(api.get(CUSTOMERS))


@pytest.mark.parametrize("exc", FAILURES, ids=type)
def test_database_failure_during_authentication_is_503(api, monkeypatch, exc):
    monkeypatch.setattr(TokenAuthentication, "authenticate_credentials", raiser(exc))
    assert_unavailable(api.get(CUSTOMERS))


@pytest.mark.parametrize("exc", FAILURES, ids=type)
def test_database_failure_outside_drf_is_503_not_500(token, monkeypatch, exc):
    # A middleware (or a plain Django view) meets the outage: Django's handler500 answers, and must not hide it.
    monkeypatch.setattr(CommonMiddleware, "process_request", raiser(exc))
    client = Client(raise_request_exception=False)
    assert_unavailable(client.get(CUSTOMERS, HTTP_AUTHORIZATION=f"Token {token}"))


def test_other_failures_outside_drf_stay_500(token, monkeypatch):
    monkeypatch.setattr(CommonMiddleware, "process_request", raiser(RuntimeError("boom")))
    response = Client(raise_request_exception=False).get(CUSTOMERS, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred.", "code": "error"}
    assert "Retry-After" not in response


def test_a_write_whose_read_back_fails_is_not_stored(api, monkeypatch):
    """The record is read back inside the write's transaction (apicore.history.stored, for a tracked model): a 503
    means nothing was stored."""
    from apicore import history

    original = history.stored
    monkeypatch.setattr(history, "stored", raiser(OperationalError("server closed the connection unexpectedly")))
    assert_unavailable(api.post(CUSTOMERS, CUSTOMER, format="json"))
    assert not Customer.objects.filter(channel_code="outage-1").exists()
    monkeypatch.setattr(history, "stored", original)
    assert api.post(CUSTOMERS, CUSTOMER, format="json").status_code == 201


def test_a_login_that_meets_the_outage_is_503_and_not_a_failed_login(user, settings, monkeypatch):
    from rest_framework.authtoken import serializers
    from rest_framework.test import APIClient

    from apicore import throttling

    monkeypatch.setattr(throttling, "clock", lambda: 60 * 28_000_000 + 1.0)  # one window throughout
    settings.OMNITRON_LOGIN_RATE_LIMIT = "1/minute"
    authenticate = serializers.authenticate
    monkeypatch.setattr(serializers, "authenticate", raiser(OperationalError("connection refused")))
    client = APIClient()
    for _ in range(3):
        assert_unavailable(client.post(LOGIN, {"username": "integrator", "password": "s3cret-pass"}, format="json"))
    monkeypatch.setattr(serializers, "authenticate", authenticate)
    response = client.post(LOGIN, {"username": "integrator", "password": "s3cret-pass"}, format="json")
    assert response.status_code == 200
