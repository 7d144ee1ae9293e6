"""The OpenAPI document at /api/schema/ and Swagger UI at /api/docs/: public, generated from the code."""

import re

import jsonschema_rs
import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings
from rest_framework.exceptions import ParseError

from apicore import conditional
from apicore.idempotency import KEY_RE
from tests.factories import ChannelFactory

SCHEMA = "/api/schema/"
# The single-record paths of apicore.views.ModelViewSet: conditional requests and ETags.
RECORDS = {
    "/api/v1/customers/{id}/",
    "/api/v1/customers/{id}/detailed/",
    "/api/v1/channel/{channel_id}/customers/{id}/",
    "/api/v1/channel/{channel_id}/customers/{id}/detailed/",
    "/api/v1/channels/{id}/",
    "/api/v1/orders/{id}/",
}
IDEMPOTENT = {
    "/api/v1/customers/",
    "/api/v1/channel/{channel_id}/customers/",
    "/api/v1/channels/",
    "/api/v1/orders/",
    "/api/v1/orders/{order_id}/refunds/",
    "/api/v1/webhooks/",
}
RATE_LIMIT_HEADERS = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"}


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
        # Every matching row as a file (apicore.export)
        "/api/v1/customers/export/",
        "/api/v1/channel/{channel_id}/customers/export/",
        "/api/v1/channels/",
        "/api/v1/channels/{id}/",
        "/api/v1/orders/",
        "/api/v1/orders/{id}/",
        "/api/v1/orders/{order_id}/refunds/",
        # Each record's change history (apicore.history)
        "/api/v1/customers/{id}/history/",
        "/api/v1/channel/{channel_id}/customers/{id}/history/",
        "/api/v1/channels/{id}/history/",
        "/api/v1/orders/{id}/history/",
        "/api/v1/events/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{id}/",
        "/api/v1/webhooks/{id}/deliveries/",
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver/",
        "/api/v1/webhooks/{id}/rotate-secret/",
        "/api/v1/customers/{id}/personal-data/",
        "/api/v1/customers/{id}/erase/",
        "/api/v1/customers/imports/",
        "/api/v1/customers/imports/{id}/",
        "/api/v1/customers/imports/{id}/report/",
    }
    assert set(paths["/api/v1/orders/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/customers/{id}/history/"]) == {"get"}
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
            # Creations honour Idempotency-Key; a webhook's actions (redeliver, rotate-secret) and an erase (idempotent
            # itself) create nothing; an import's upload is not keyed (its fingerprint would read the whole file).
            if (
                method == "post"
                and path not in ("/api/v1/auth/login/", "/api/v1/customers/imports/")
                and not path.endswith(("/redeliver/", "-secret/", "/erase/"))
            ):
                expected |= {"422"}
            # Conditional writes: the records with a version (apicore.views.ModelViewSet), not webhooks.
            versioned = not path.startswith("/api/v1/webhooks/")
            if versioned and (method in ("put", "patch", "delete") or (method == "get" and path in RECORDS)):
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
    assert set(ok["headers"]) - RATE_LIMIT_HEADERS == {"X-Total-Count", "Link", "X-Total-Count-Estimated"}
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
    assert set(ok["headers"]) - RATE_LIMIT_HEADERS == {"X-Total-Count-Estimated"}
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


def header_parameters(operation: dict) -> dict[str, dict]:
    return {
        parameter["name"]: parameter for parameter in operation.get("parameters", []) if parameter["in"] == "header"
    }


def resolve(doc: dict, node: dict) -> dict:
    if "$ref" in node:
        kind, name = node["$ref"].removeprefix("#/components/").split("/")
        return doc["components"][kind][name]
    return node


def test_conditional_requests_are_documented_where_records_are_read_and_written(anon):
    """apicore.conditional: one record's GET (304, 412), PUT, PATCH and DELETE (412) read If-Match and If-None-Match;
    its GET, PUT and PATCH answer with the ETag, POST's 201 too. Lists, refunds and login read neither."""
    doc = anon.get(SCHEMA).json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            headers = header_parameters(operation)
            conditional = path in RECORDS
            assert {"If-Match", "If-None-Match"} & set(headers) == (
                {"If-Match", "If-None-Match"} if conditional else set()
            )
            assert ("412" in operation["responses"]) is conditional, (method, path)
            assert ("304" in operation["responses"]) is (conditional and method == "get"), (method, path)
            ok = next(status for status in operation["responses"] if status.startswith("2"))
            etag = "ETag" in operation["responses"][ok].get("headers", {})
            expected = (conditional and method != "delete") or (
                method == "post" and path in IDEMPOTENT - {"/api/v1/orders/{order_id}/refunds/", "/api/v1/webhooks/"}
            )
            assert etag is expected, (method, path)
            if conditional:
                assert not headers["If-Match"].get("required")
    not_modified = doc["paths"]["/api/v1/orders/{id}/"]["get"]["responses"]["304"]
    assert "content" not in not_modified
    assert resolve(doc, not_modified["headers"]["ETag"])["required"] is True
    assert resolve(doc, doc["components"]["headers"]["ETag"])["schema"]["pattern"] == '^"[0-9a-f]{32}"$'


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("*", True),
        ('"abc"', True),
        ('W/"abc", "d\\e"', True),
        (' , "a",, W/"" ,', True),  # empty members are ignored (RFC 9110 §5.6.1)
        ('"caf\u00e9"', True),  # obs-text
        ("", False),
        (" , ", False),
        ("abc", False),
        ('"a" "b"', False),
        ('"a"b', False),
        ('w/"a"', False),
        ('*, "a"', False),
        ('"a\tb"', False),
    ],
)
def test_the_documented_entity_tags_are_what_the_server_parses(anon, value, valid):
    operation = anon.get(SCHEMA).json()["paths"]["/api/v1/customers/{id}/"]["patch"]
    for name in ("If-Match", "If-None-Match"):
        pattern = header_parameters(operation)[name]["schema"]["pattern"]
        assert bool(re.search(pattern, value)) is valid
    request = type("Request", (), {"method": "PATCH", "headers": {"If-Match": value}})()
    try:
        conditional.evaluate(request, '"abc"')
    except ParseError:
        assert not valid
    else:
        assert valid


def test_the_etag_pattern_matches_what_the_server_sends(api, anon):
    channel = ChannelFactory()
    tag = api.get(f"/api/v1/channels/{channel.pk}/")["ETag"]
    pattern = anon.get(SCHEMA).json()["components"]["headers"]["ETag"]["schema"]["pattern"]
    assert re.fullmatch(pattern, tag)


def test_idempotency_keys_are_documented_on_the_posts_that_honour_them(anon):
    doc = anon.get(SCHEMA).json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            honoured = method == "post" and path in IDEMPOTENT
            assert ("Idempotency-Key" in header_parameters(operation)) is honoured, (method, path)
            assert ("422" in operation["responses"]) is honoured, (method, path)
            replayed = {
                status
                for status, response in operation["responses"].items()
                if "Idempotent-Replayed" in response.get("headers", {})
            }
            assert replayed == ({"201", "400", "404", "415"} & set(operation["responses"]) if honoured else set())
    operation = doc["paths"]["/api/v1/orders/{order_id}/refunds/"]["post"]
    assert "409" in operation["responses"]
    key = header_parameters(operation)["Idempotency-Key"]
    assert not key.get("required")
    assert resolve(doc, doc["components"]["headers"]["Idempotent-Replayed"])["schema"] == {
        "type": "string",
        "enum": ["true"],
    }


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a", True),
        ("order 42/retry#1", True),
        ("~" * 255, True),
        (" padded\t", True),  # the spaces around a header's value are not part of it
        ("", False),
        ("   ", False),
        ("~" * 256, False),
        ("caf\u00e9", False),
        ("tab\tinside", False),
    ],
)
def test_the_documented_idempotency_key_is_what_the_server_accepts(anon, key, valid):
    operation = anon.get(SCHEMA).json()["paths"]["/api/v1/customers/"]["post"]
    schema = header_parameters(operation)["Idempotency-Key"]["schema"]
    assert bool(re.search(schema["pattern"], key)) is valid
    assert bool(KEY_RE.fullmatch(key.strip(" \t"))) is valid


def test_rate_limit_headers_are_documented_while_a_limit_is_on(anon):
    doc = anon.get(SCHEMA).json()
    assert set(doc["components"]["headers"]) >= RATE_LIMIT_HEADERS
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                documented = RATE_LIMIT_HEADERS & set(response.get("headers", {}))
                # Refused before counting: content negotiation, authentication, permissions; logins count failures.
                counted = status not in {"401", "403", "406"} and (
                    path != "/api/v1/auth/login/" or status in {"200", "400", "429"}
                )
                assert documented == (RATE_LIMIT_HEADERS if counted else set()), (method, path, status)
            assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_rate_limit_headers_are_not_documented_without_a_limit(anon):
    with override_settings(OMNITRON_RATE_LIMIT="off", OMNITRON_LOGIN_RATE_LIMIT="off"):
        doc = anon.get(SCHEMA).json()
    for item in doc["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                assert not RATE_LIMIT_HEADERS & set(response.get("headers", {}))


def test_blank_strings_the_server_accepts_are_valid_in_the_document(anon):
    """drf-spectacular's `oneOf: [<string>, {maxLength: 0}]` made "" match both branches, so a valid
    `PATCH {"last_name": ""}` was invalid per the document (and fuzzers sent it as invalid data)."""
    doc = anon.get(SCHEMA).json()
    for name in ("CustomerRequest", "PatchedCustomerRequest", "ChannelRequest", "RefundRequest"):
        for field, schema in doc["components"]["schemas"][name]["properties"].items():
            assert {"type": "string", "maxLength": 0} not in schema.get("oneOf", []), (name, field)
    last_name = doc["components"]["schemas"]["PatchedCustomerRequest"]["properties"]["last_name"]
    assert jsonschema_rs.validator_for(last_name).is_valid("")


@pytest.mark.parametrize("name", ["CustomerRequest", "ChannelCustomerRequest"])
def test_consent_flags_are_optional_on_create_and_default_to_false(anon, name):
    """channel-app creates customers without them; the model's default is documented, the PATCH body has none."""
    schemas = anon.get(SCHEMA).json()["components"]["schemas"]
    body, patched = schemas[name], schemas[f"Patched{name}"]
    assert set(body["required"]) == {"email", "channel_code", "is_active"}
    for flag in ("email_allowed", "sms_allowed", "call_allowed"):
        assert body["properties"][flag]["type"] == "boolean"
        assert body["properties"][flag]["default"] is False
        assert "PUT" in body["properties"][flag]["description"]
        assert "default" not in patched["properties"][flag]  # an omitted field of a PATCH is left as stored
    assert "default" not in body["properties"]["is_active"]  # required: no default applies
