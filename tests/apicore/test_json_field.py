"""apicore.models.JSONField reads stored JSON as Django's JSONField does, value for value and type for type."""

import json

import pytest
from django.db import connection

from apicore.models import JSONField
from customers.models import Customer
from tests.factories import CustomerFactory

TEXTS = [
    "{}",
    "[]",
    "null",
    '"ş"',
    '{"a": [1, 2.5, null, true, false, {"b": {}}], "": ""}',
    '{"tiny": 1e-05, "huge": 1.5e300, "neg": -0.0, "exp": 1E2}',
    '{"int": 9223372036854775807, "min": -9223372036854775808, "u64": 18446744073709551615}',
    '{"big": 1180591620717411303424, "bigger": -1180591620717411303424}',  # beyond 64 bits: Django's way
    '{"overflow": 1e400}',  # json.loads reads inf; orjson refuses
    '{"lone": "\\ud800", "pair": "\\ud83d\\ude42", "escapes": "\\u2028\\u0000\\"\\\\/"}',
    '{"dup": 1, "dup": 2}',
    "not json",  # Django answers the text itself
]


@pytest.mark.parametrize("text", TEXTS)
def test_stored_text_reads_as_djangos_json_field_reads_it(text):
    field = Customer._meta.get_field("attributes")
    assert isinstance(field, JSONField)
    mine = field.from_db_value(text, None, connection)
    theirs = super(JSONField, field).from_db_value(text, None, connection)
    assert json.dumps(mine) == json.dumps(theirs)
    assert repr(mine) == repr(theirs)


def test_a_record_reads_back_what_was_stored(db):
    stored = {"a": {"b": [1, 2**70, 0.1, "ğ"]}, "none": None}
    customer = CustomerFactory(attributes=stored)
    assert Customer.objects.get(pk=customer.pk).attributes == stored
    # A key's value through the ORM (a KeyTransform) is the database's, untouched.
    assert list(Customer.objects.filter(pk=customer.pk).values_list("attributes__a__b", flat=True)) == [
        [1, 2**70, 0.1, "ğ"]
    ]
