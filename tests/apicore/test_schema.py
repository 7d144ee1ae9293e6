"""The OpenAPI document at /api/schema/ and Swagger UI at /api/docs/: public, generated from the code."""

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings

SCHEMA = "/api/schema/"


def test_the_schema_is_public_json_openapi_3(anon):
    response = anon.get(SCHEMA)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert response.json()["openapi"].startswith("3.0")


def test_a_bad_token_does_not_hide_the_schema(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert anon.get(SCHEMA).status_code == 200


def test_every_route_is_documented(anon):
    paths = anon.get(SCHEMA).json()["paths"]
    assert set(paths) == {
        "/api/v1/auth/login/",
        "/api/v1/active_user/",
        "/api/v1/customers/",
        "/api/v1/customers/detailed/",
        "/api/v1/customers/{id}/",
        "/api/v1/customers/{id}/detailed/",
        "/api/v1/channel/{channel_id}/customers/",
        "/api/v1/channel/{channel_id}/customers/detailed/",
        "/api/v1/channel/{channel_id}/customers/{id}/",
        "/api/v1/channel/{channel_id}/customers/{id}/detailed/",
        "/api/v1/channels/",
        "/api/v1/channels/{id}/",
        "/api/v1/orders/",
        "/api/v1/orders/{id}/",
        "/api/v1/orders/{order_id}/refunds/",
    }
    assert set(paths["/api/v1/orders/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/orders/{order_id}/refunds/"]) == {"get", "post"}


def test_every_operation_documents_its_errors_with_their_shapes(anon):
    doc = anon.get(SCHEMA).json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            expected = {"400", "405", "406", "429", "500", "503"}
            if path != "/api/v1/auth/login/":
                expected |= {"401"}
            if path not in ("/api/v1/auth/login/", "/api/v1/active_user/"):
                expected |= {"403"}
            if method in ("post", "put", "patch"):
                expected |= {"409", "413", "415"}
            if method == "post":
                expected |= {"422"}
            if method in ("put", "patch", "delete"):
                expected |= {"412"}
            assert expected <= set(responses), (method, path)
            for status in expected:
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{'ValidationError' if status == '400' else 'Error'}"}
    assert set(doc["components"]["schemas"]["Error"]["required"]) == {"detail", "code"}
    assert "Retry-After" in doc["paths"]["/api/v1/customers/"]["get"]["responses"]["429"]["headers"]


@pytest.mark.parametrize("path", ["/api/v1/customers/", "/api/v1/orders/", "/api/v1/channels/"])
def test_lists_document_their_filters_paging_and_headers(anon, path):
    operation = anon.get(SCHEMA).json()["paths"][path]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"page", "limit", "sort", "pk__in"} <= names
    ok = operation["responses"]["200"]
    assert set(ok["headers"]) == {"X-Total-Count", "Link", "X-Total-Count-Estimated"}
    assert not ok["headers"]["X-Total-Count-Estimated"]["required"]


def test_customer_lists_document_the_json_key_filters(anon):
    operation = anon.get(SCHEMA).json()["paths"]["/api/v1/customers/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"attributes__some_key", "extra_field__some_key", "created_date__date__gte", "email_allowed"} <= names


def test_the_paginated_format_is_documented_when_configured(anon):
    with override_settings(OMNITRON_LIST_FORMAT="paginated"):
        doc = anon.get(SCHEMA).json()
    ok = doc["paths"]["/api/v1/customers/"]["get"]["responses"]["200"]
    # count and links travel in the body; only the estimate flag stays a header
    assert set(ok["headers"]) == {"X-Total-Count-Estimated"}
    page = doc["components"]["schemas"][ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}


def test_the_docs_page_is_swagger_ui_served_from_here(anon):
    response = anon.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "https://" not in html  # no CDN: the machine may have no internet
    assert "/api/schema/" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset
