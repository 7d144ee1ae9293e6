"""The published Customers contract with exactly the seven defects of contract/NOTES.md fixed.

`corrected_document()` loads contract/omnitron-customers.openapi.json and returns a corrected copy; the
published file is never modified. Each fix is one function below, named after what it fixes and citing the
defect's number under "Defects of the published document" in NOTES.md. Nothing else is changed: the
list bodies stay the bare arrays the pages show (the service's default list format), descriptions and
all other schemas stay as published.
"""

import copy
import json
from pathlib import Path

__all__ = [
    "BIGINT_MAX",
    "CONSENT_FLAGS",
    "CREATED_DATE_LOOKUPS",
    "LIMIT_MAX",
    "PUBLISHED",
    "corrected_document",
    "load_published",
]

PUBLISHED = Path(__file__).resolve().parents[2] / "contract" / "omnitron-customers.openapi.json"

LIST_OPERATIONS = (("/api/v1/customers/", "get"), ("/api/v1/customers/detailed/", "get"))
LIMIT_MAX = 1000  # apicore.pagination.Pagination.max_page_size
BIGINT_MAX = 2**63 - 1  # the largest id (bigint) either database stores
# The lookups the `created_date` parameter's description mentions, and their value formats.
CREATED_DATE_LOOKUPS = {
    "created_date__gt": "date-time",
    "created_date__gte": "date-time",
    "created_date__lt": "date-time",
    "created_date__lte": "date-time",
    "created_date__date": "date",
    "created_date__date__gt": "date",
    "created_date__date__gte": "date",
    "created_date__date__lt": "date",
    "created_date__date__lte": "date",
}


def load_published() -> dict:
    return json.loads(PUBLISHED.read_text(encoding="utf-8"))


# Defect 1: `Customer.pk` has `format: int64` but no `type`.
def fix_customer_pk_type(doc: dict) -> None:
    doc["components"]["schemas"]["Customer"]["properties"]["pk"]["type"] = "integer"


# Defect 2: `CustomerDetailed` is `allOf: [Customer]` plus a sibling `channel: Channel`, which no value satisfies
# (Customer says integer). Intent: every Customer field, `channel` replaced by the Channel object (nullable),
# plus `orders_info`. The Channel schema is copied in with `nullable: true`, since OpenAPI 3.0 ignores keywords
# beside a `$ref` and `nullable` next to `allOf` is read differently by different tools.
def fix_customer_detailed(doc: dict) -> None:
    schemas = doc["components"]["schemas"]
    customer, detailed = schemas["Customer"], schemas["CustomerDetailed"]
    channel = copy.deepcopy(schemas["Channel"])
    channel["nullable"] = True
    properties = copy.deepcopy(customer["properties"])
    properties["channel"] = channel
    properties["orders_info"] = detailed["properties"]["orders_info"]
    schemas["CustomerDetailed"] = {
        "type": "object",
        "properties": properties,
        "required": list(customer["required"]),
    }


# Defect 3: the shared 400 body is `oneOf` three object schemas that every object matches, so no body passes;
# `anyOf` is the intent. The property literally named `field` stands for any field's name: a field error is
# an array of messages under that field's name, next to the string `code`.
def fix_bad_request_body(doc: dict) -> None:
    schema = doc["components"]["responses"]["400"]["content"]["application/json"]["schema"]
    schema["anyOf"] = schema.pop("oneOf")
    field_errors = schema["anyOf"][0]
    field = field_errors["properties"].pop("field")
    messages = copy.deepcopy(field["oneOf"][0])
    messages["description"] = "The field's error messages, under the field's name. " + " ".join(
        option["description"] for option in field["oneOf"]
    )
    field_errors["additionalProperties"] = messages


# Defect 4: PATCH reuses `Customer` with its `required` list; a partial update needs none.
def fix_partial_update_body(doc: dict) -> None:
    body = copy.deepcopy(doc["components"]["schemas"]["Customer"])
    del body["required"]
    doc["components"]["schemas"]["PatchedCustomer"] = body
    content = doc["paths"]["/api/v1/customers/{id}/"]["patch"]["requestBody"]["content"]["application/json"]
    content["schema"] = {"$ref": "#/components/schemas/PatchedCustomer"}


# Defect 5: list endpoints document no 400 (an invalid filter value or `limit` answers 400). The bodies stay
# bare arrays: that is what the pages document and the service's default format (X-Total-Count/Link headers).
def fix_list_bad_request(doc: dict) -> None:
    for path, method in LIST_OPERATIONS:
        responses = doc["paths"][path][method]["responses"]
        doc["paths"][path][method]["responses"] = {
            **{code: value for code, value in responses.items() if code < "400"},
            "400": {"$ref": "#/components/responses/400"},
            **{code: value for code, value in responses.items() if code >= "400"},
        }


# Defect 6 (a): `limit` has no maximum (the service serves at most LIMIT_MAX rows a page).
def fix_limit_maximum(doc: dict) -> None:
    doc["components"]["parameters"]["limit"]["schema"]["maximum"] = LIMIT_MAX


# Defect 6 (b): the other integer parameters have no maximum: ids are positive bigints.
# `attributes__some_key` / `extra_field__some_key` stand for any key but also work as literal keys: kept as is.
def fix_integer_parameter_bounds(doc: dict) -> None:
    parameters = doc["components"]["parameters"]
    parameters["page"]["schema"]["maximum"] = BIGINT_MAX
    parameters["channel"]["schema"].update(minimum=1, maximum=BIGINT_MAX)
    parameters["pk__in"]["schema"]["items"].update(minimum=1, maximum=BIGINT_MAX)
    parameters["id_path"]["schema"]["maximum"] = BIGINT_MAX


# Defect 6 (c): the `created_date` lookups its description mentions are not declared as parameters.
def fix_created_date_lookups(doc: dict) -> None:
    parameters = doc["components"]["parameters"]
    for name, fmt in CREATED_DATE_LOOKUPS.items():
        lookup = name.removeprefix("created_date__").replace("__", " ")
        parameters[name] = {
            "name": name,
            "in": "query",
            "required": False,
            "description": f"Filter by creation date ({lookup}).",
            "schema": {"type": "string", "format": fmt},
        }
    for path, method in LIST_OPERATIONS:
        operation = doc["paths"][path][method]
        refs = [{"$ref": f"#/components/parameters/{name}"} for name in CREATED_DATE_LOOKUPS]
        at = operation["parameters"].index({"$ref": "#/components/parameters/created_date"}) + 1
        operation["parameters"][at:at] = refs


# Defect 7: the create and replace bodies reuse `Customer`, whose `required` names the consent flags; the production
# service defaults them to false on create. The bodies get a copy that does not require them; answers keep `Customer`.
CONSENT_FLAGS = ("email_allowed", "sms_allowed", "call_allowed")
WRITE_BODIES = (("/api/v1/customers/", "post"), ("/api/v1/customers/{id}/", "put"))


def fix_consent_flags_optional_on_write(doc: dict) -> None:
    body = copy.deepcopy(doc["components"]["schemas"]["Customer"])
    body["required"] = [name for name in body["required"] if name not in CONSENT_FLAGS]
    doc["components"]["schemas"]["CustomerWrite"] = body
    for path, method in WRITE_BODIES:
        content = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
        content["schema"] = {"$ref": "#/components/schemas/CustomerWrite"}


FIXES = (
    fix_customer_pk_type,  # 1
    fix_customer_detailed,  # 2 (after 1: copies Customer's properties)
    fix_bad_request_body,  # 3
    fix_partial_update_body,  # 4 (after 1: copies Customer)
    fix_list_bad_request,  # 5
    fix_limit_maximum,  # 6
    fix_integer_parameter_bounds,  # 6
    fix_created_date_lookups,  # 6
    fix_consent_flags_optional_on_write,  # 7 (after 1: copies Customer)
)


def corrected_document(published: dict | None = None) -> dict:
    """A corrected copy of the published document (the argument, if given, is left untouched)."""
    doc = copy.deepcopy(published if published is not None else load_published())
    for fix in FIXES:
        fix(doc)
    return doc
