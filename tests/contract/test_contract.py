"""The Customers contract: the corrected document (fast, no server) and schemathesis against the real server."""

import json
import os

import pytest

from tests.contract.conftest import run_schemathesis
from tests.contract.corrected import (
    BIGINT_MAX,
    CONSENT_FLAGS,
    CREATED_DATE_LOOKUPS,
    LIMIT_MAX,
    corrected_document,
    load_published,
)

# --- The corrected document (fast) ------------------------------------------------------------------------------

# Every place the corrected document may differ from the published one, as JSON pointers, and the defect
# (contract/NOTES.md) that allows it. A difference at or below one of these is allowed; each must differ.
CP = "/components/parameters"
LISTS = ("/paths/~1api~1v1~1customers~1/get", "/paths/~1api~1v1~1customers~1detailed~1/get")
ALLOWED_CHANGES = {
    "/components/schemas/Customer/properties/pk/type": 1,
    "/components/schemas/CustomerDetailed": 2,
    "/components/responses/400/content/application~1json/schema": 3,
    "/components/schemas/PatchedCustomer": 4,
    "/paths/~1api~1v1~1customers~1{id}~1/patch/requestBody/content/application~1json/schema/$ref": 4,
    **{f"{operation}/responses/400": 5 for operation in LISTS},
    f"{CP}/limit/schema/maximum": 6,
    f"{CP}/page/schema/maximum": 6,
    f"{CP}/channel/schema/minimum": 6,
    f"{CP}/channel/schema/maximum": 6,
    f"{CP}/pk__in/schema/items/minimum": 6,
    f"{CP}/pk__in/schema/items/maximum": 6,
    f"{CP}/id_path/schema/maximum": 6,
    **{f"{CP}/{name}": 6 for name in CREATED_DATE_LOOKUPS},
    **{f"{operation}/parameters": 6 for operation in LISTS},
    "/components/schemas/CustomerWrite": 7,
    "/paths/~1api~1v1~1customers~1/post/requestBody/content/application~1json/schema/$ref": 7,
    "/paths/~1api~1v1~1customers~1{id}~1/put/requestBody/content/application~1json/schema/$ref": 7,
}


def _pointer_token(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _differences(old, new, pointer: str = "") -> list[str]:
    """JSON pointers of the smallest subtrees that differ (added, removed or changed)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(old.keys() | new.keys(), key=str):
            child = f"{pointer}/{_pointer_token(key)}"
            if key not in old or key not in new:
                out.append(child)
            else:
                out.extend(_differences(old[key], new[key], child))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in _differences(a, b, f"{pointer}/{i}")]
    return [] if old == new and type(old) is type(new) else [pointer]


def _resolve(doc: dict, node):
    """`node` with every local `$ref` replaced by what it names and OpenAPI 3.0 `nullable` spelled as JSON Schema."""
    if isinstance(node, list):
        return [_resolve(doc, item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = doc
        for token in node["$ref"].removeprefix("#/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return _resolve(doc, target)
    schema = {key: _resolve(doc, value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [schema, {"type": "null"}]} if node.get("nullable") else schema


def _validator(doc: dict, pointer: str):
    import jsonschema_rs

    target = doc
    for token in pointer.removeprefix("#/").split("/"):
        target = target[token.replace("~1", "/").replace("~0", "~")]
    return jsonschema_rs.Draft4Validator(_resolve(doc, target))


@pytest.fixture(scope="module")
def published() -> dict:
    return load_published()


@pytest.fixture(scope="module")
def corrected(published) -> dict:
    return corrected_document(published)


def test_published_document_is_left_untouched(published):
    before = json.dumps(published, sort_keys=True)
    corrected_document(published)
    assert json.dumps(published, sort_keys=True) == before
    assert load_published() == published


def test_corrected_document_differs_only_where_notes_list_a_defect(published, corrected):
    differences = _differences(published, corrected)
    outside = [d for d in differences if not any(d == a or d.startswith(f"{a}/") for a in ALLOWED_CHANGES)]
    assert outside == [], "changed beyond the defects of contract/NOTES.md"
    untouched = [a for a in ALLOWED_CHANGES if not any(d == a or d.startswith(f"{a}/") for d in differences)]
    assert untouched == [], "a listed fix did not change anything"


def test_corrected_document_is_valid_openapi_30(corrected):
    import schemathesis
    from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in OPENAPI_30_VALIDATOR.iter_errors(corrected)
    ]
    assert errors == []
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(corrected)))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 8
    # Every schema the document holds is a valid JSON Schema once its references are resolved.
    for name in corrected["components"]["schemas"]:
        _validator(corrected, f"#/components/schemas/{name}")
    _validator(corrected, "#/components/responses/400/content/application~1json/schema")


def test_defect_1_customer_pk_is_an_integer(corrected):
    assert corrected["components"]["schemas"]["Customer"]["properties"]["pk"] == {
        "type": "integer",
        "format": "int64",
        "readOnly": True,
        "description": "Customer ID",
    }


CUSTOMER = {  # the production record quoted in contract/NOTES.md
    "pk": 1, "channel": 1, "email": "john.doe@example.com", "first_name": "John", "last_name": "Doe",
    "phone_number": "05556667788", "is_active": True, "channel_code": "1", "erp_code": None, "extra_field": {},
    "modified_date": "2024-01-29T08:27:18.399594Z", "created_date": "2024-01-29T08:27:18.399484Z",
    "date_joined": None, "email_allowed": False, "sms_allowed": False, "call_allowed": False, "gender": None,
    "attributes": {}, "user_type": None, "date_of_birth": None, "attributes_kwargs": {}, "localized_attributes": {},
    "localized_attributes_kwargs": {},
}  # fmt: skip
CHANNEL = {
    "id": 1, "pk": 1, "name": "Web", "catalog": 1, "channel_type": "web", "conf": {}, "category_tree": None,
    "is_active": True, "schema": None, "created_date": "2024-01-29T08:27:18Z", "modified_date": "2024-01-29T08:27:18Z",
}  # fmt: skip
ORDERS_INFO = {"total_order_count": 0, "total_order_amount": None, "total_refund_amount": None,
               "total_discount_amount": None}  # fmt: skip


def test_defect_2_customer_detailed_embeds_a_nullable_channel(published, corrected):
    schema = corrected["components"]["schemas"]["CustomerDetailed"]
    customer = corrected["components"]["schemas"]["Customer"]
    assert "allOf" not in schema
    assert schema["required"] == customer["required"]
    assert {k: v for k, v in schema["properties"].items() if k not in {"channel", "orders_info"}} == {
        k: v for k, v in customer["properties"].items() if k != "channel"
    }
    assert schema["properties"]["channel"] == {**published["components"]["schemas"]["Channel"], "nullable": True}
    assert (
        schema["properties"]["orders_info"]
        == published["components"]["schemas"]["CustomerDetailed"]["properties"]["orders_info"]
    )
    validator = _validator(corrected, "#/components/schemas/CustomerDetailed")
    assert validator.is_valid({**CUSTOMER, "channel": CHANNEL, "orders_info": ORDERS_INFO})
    assert validator.is_valid({**CUSTOMER, "channel": None, "orders_info": ORDERS_INFO})
    assert not validator.is_valid({**CUSTOMER, "channel": 1, "orders_info": ORDERS_INFO})
    assert not _validator(published, "#/components/schemas/CustomerDetailed").is_valid(
        {**CUSTOMER, "channel": CHANNEL, "orders_info": ORDERS_INFO}
    )


@pytest.mark.parametrize(
    "body",
    [
        {"email": ["This field is required."], "channel_code": ["This field is required."], "code": "required"},
        {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."], "code": "invalid"},
        {"detail": "JSON parse error - Expecting value: line 1 column 1 (char 0)", "code": "parse_error"},
        {"limit": ["Ensure this value is an integer from 1 to 1000."], "code": "invalid"},
    ],
)
def test_defect_3_drf_error_bodies_match_the_400_response(published, corrected, body):
    pointer = "#/components/responses/400/content/application~1json/schema"
    assert _validator(corrected, pointer).is_valid(body)
    assert not _validator(published, pointer).is_valid(body)


def test_defect_3_the_400_response_is_any_of_the_published_members(published, corrected):
    pointer = ("components", "responses", "400", "content", "application/json", "schema")
    before, after = published, corrected
    for key in pointer:
        before, after = before[key], after[key]
    assert list(after) == ["anyOf"]
    field_errors, non_field_errors, detail = after["anyOf"]
    assert [non_field_errors, detail] == before["oneOf"][1:]
    assert field_errors["type"] == "object"
    assert field_errors["properties"] == {"code": before["oneOf"][0]["properties"]["code"]}
    assert {k: v for k, v in field_errors["additionalProperties"].items() if k != "description"} == {
        "type": "array",
        "items": {"type": "string"},
    }


def test_defect_3_the_400_response_still_types_its_members(corrected):
    validator = _validator(corrected, "#/components/responses/400/content/application~1json/schema")
    # anyOf: a body passes when one member matches; the members still type the keys they name.
    assert not validator.is_valid({"detail": ["a list"], "non_field_errors": "x", "code": "invalid"})
    assert not validator.is_valid({"email": ["x"], "code": 1})
    assert not validator.is_valid(["a bare list"])


def test_defect_4_partial_update_requires_nothing(published, corrected):
    patch = corrected["paths"]["/api/v1/customers/{id}/"]["patch"]["requestBody"]["content"]["application/json"]
    patched = corrected["components"]["schemas"]["PatchedCustomer"]
    assert patch["schema"] == {"$ref": "#/components/schemas/PatchedCustomer"}
    assert "required" not in patched
    assert patched == {k: v for k, v in corrected["components"]["schemas"]["Customer"].items() if k != "required"}


@pytest.mark.parametrize("path", ["/api/v1/customers/", "/api/v1/customers/detailed/"])
def test_defect_5_lists_stay_arrays_and_document_400(published, corrected, path):
    responses = corrected["paths"][path]["get"]["responses"]
    assert responses["400"] == {"$ref": "#/components/responses/400"}
    assert responses["200"] == published["paths"][path]["get"]["responses"]["200"]
    assert responses["200"]["content"]["application/json"]["schema"]["type"] == "array"


@pytest.mark.parametrize("path", ["/api/v1/customers/", "/api/v1/customers/detailed/"])
def test_defect_6_parameters(published, corrected, path):
    parameters = corrected["components"]["parameters"]
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": 10}
    assert parameters["page"]["schema"] == {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX, "default": 1}
    assert parameters["channel"]["schema"] == {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}
    assert parameters["pk__in"]["schema"]["items"] == {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}
    assert parameters["id_path"]["schema"] == {"type": "integer", "maximum": BIGINT_MAX}
    for name in ("attributes__some_key", "extra_field__some_key", "created_date"):
        assert parameters[name] == published["components"]["parameters"][name]

    def names(doc):
        return [ref["$ref"].removeprefix(f"#{CP}/") for ref in doc["paths"][path]["get"]["parameters"]]

    before = names(published)
    at = before.index("created_date") + 1
    assert names(corrected) == [*before[:at], *CREATED_DATE_LOOKUPS, *before[at:]]
    for name, fmt in CREATED_DATE_LOOKUPS.items():
        assert parameters[name]["in"] == "query"
        assert parameters[name]["name"] == name
        assert parameters[name]["required"] is False
        assert parameters[name]["schema"] == {"type": "string", "format": fmt}
        assert fmt == ("date" if name.startswith("created_date__date") else "date-time")


@pytest.mark.parametrize(("path", "method"), [("/api/v1/customers/", "post"), ("/api/v1/customers/{id}/", "put")])
def test_defect_7_create_and_replace_do_not_require_the_consent_flags(published, corrected, path, method):
    body = corrected["paths"][path][method]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/CustomerWrite"}
    customer = corrected["components"]["schemas"]["Customer"]
    write = corrected["components"]["schemas"]["CustomerWrite"]
    assert write["required"] == ["email", "channel_code", "is_active"]
    assert {k: v for k, v in write.items() if k != "required"} == {k: v for k, v in customer.items() if k != "required"}
    assert set(customer["required"]) == {*write["required"], *CONSENT_FLAGS}  # answers still carry the flags
    channel_apps_create = {"channel": 1, "email": "ada@example.com", "phone_number": None, "first_name": "Ada",
                           "last_name": "Lovelace", "extra_field": {}, "channel_code": "ca-1",
                           "is_active": True}  # fmt: skip
    assert _validator(corrected, "#/components/schemas/CustomerWrite").is_valid(channel_apps_create)
    assert not _validator(published, "#/components/schemas/Customer").is_valid(channel_apps_create)


# --- Schemathesis against the real server (slow) ----------------------------------------------------------------

CHECKS = "not_a_server_error,content_type_conformance,ignored_auth,response_schema_conformance"
# Fixed for reproducible CI runs; the environment can widen or vary an exploratory run.
MAX_EXAMPLES = int(os.environ.get("OMNITRON_CONTRACT_MAX_EXAMPLES", "100"))
SCHEMATHESIS_TIMEOUT = 600  # seconds; a hung run fails instead of blocking CI


@pytest.mark.contract
def test_server_conforms_to_corrected_contract(omnitron_server, corrected, tmp_path):
    document = tmp_path / "omnitron-customers.corrected.json"
    document.write_text(json.dumps(corrected, indent=2), encoding="utf-8")
    options = ["--url", omnitron_server.url, "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES)]
    run_schemathesis(omnitron_server, str(document), options, cwd=tmp_path, timeout=SCHEMATHESIS_TIMEOUT)
