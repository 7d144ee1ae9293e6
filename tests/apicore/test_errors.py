"""Every failure answers JSON with DRF's shape plus a top-level `code`, never an HTML page."""

import pytest
from django.test import Client

from tests.factories import CustomerFactory

CUSTOMERS = "/api/v1/customers/"


def test_unknown_url_is_json_404(anon):
    response = anon.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_unknown_customer_is_404_not_found(api):
    response = api.get("/api/v1/customers/999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("pk", ["99999999999999999999999", "-1", "abc"])
def test_out_of_range_and_non_numeric_ids_are_404(api, pk):
    response = api.get(f"/api/v1/customers/{pk}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_method_not_allowed_is_json_405(api):
    response = api.delete(CUSTOMERS)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_malformed_json_is_400_parse_error(api):
    response = api.generic("POST", CUSTOMERS, "{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_deeply_nested_json_body_is_400_not_500(api):
    depth = 100_000
    response = api.generic("POST", CUSTOMERS, "[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_non_json_content_type_is_415(api):
    response = api.generic("POST", CUSTOMERS, "email=a@b.c", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_oversized_body_is_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"email": "a@b.c", "extra_field": {"x": "' + "y" * 2000 + '"}}'
    response = api.generic("POST", CUSTOMERS, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_write_without_trailing_slash_is_308_keeping_the_body(api):
    response = api.post("/api/v1/customers", {"email": "a@b.c"}, format="json")
    assert response.status_code == 308
    assert response["Location"] == CUSTOMERS
    assert response["Content-Type"] == "application/json"


def test_unexpected_failure_is_json_500(api, monkeypatch):
    from customers.views import CustomerViewSet

    def explode(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(CustomerViewSet, "list", explode)
    client = Client(raise_request_exception=False)
    response = client.get(CUSTOMERS, HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"])
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "A server error occurred.", "code": "error"}


def test_html_is_never_negotiated(api):
    response = api.get(CUSTOMERS, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response["Content-Type"].startswith("application/json")


def test_validation_error_code_is_the_first_errors_code(api):
    CustomerFactory(channel_code="taken")
    response = api.post(
        CUSTOMERS,
        {
            "email": "x@example.com",
            "channel_code": "taken",
            "is_active": True,
            "email_allowed": False,
            "sms_allowed": False,
            "call_allowed": False,
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unique"
