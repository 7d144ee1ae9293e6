"""apicore.validation.RowValidator: the differential test. Every row, valid or not, must come out exactly as the
serializer's own run_validation answers it (the same validated data, or the same errors), and the rows DRF takes
must be taken without DRF's per-field machinery (else the speed is not there)."""

import datetime as dt

import pytest
from django.db import models
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apicore.serializers import ModelSerializer
from apicore.validation import RowValidator, Unsupported
from customers.models import Customer
from imports.serializers import ImportedCustomerSerializer
from tests.factories import ChannelFactory, CustomerFactory

pytestmark = pytest.mark.django_db

LONG = "x" * 300


def valid_row(channel) -> dict:
    return {
        "email": "ada@example.com",
        "channel_code": "web-1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone_number": "+44 20 0000 0000",
        "is_active": True,
        "erp_code": "ERP-1",
        "attributes": {"segment": "a", "score": 7, "nested": {"list": [1, "ğ", None]}},
        "attribute_kwargs": {},
        "localized_attributes": {"tr": {"ad": "Ömer"}},
        "extra_field": {"f": 0.5},
        "email_allowed": True,
        "sms_allowed": False,
        "call_allowed": False,
        "date_joined": "2024-01-02T03:04:05Z",
        "gender": "female",
        "user_type": "registered",
        "date_of_birth": "1990-05-17",
        "channel": channel.pk,
    }


# Each variation of the valid row: a field's value replaced (or removed, None in the tuple's second place meaning
# null), covering what DRF takes and converts and what it refuses.
ABSENT = object()
VARIATIONS = [
    ("email", " spaced@example.com "),  # trimmed by DRF
    ("email", "not-an-email"),
    ("email", ""),
    ("email", "   "),
    ("email", None),
    ("email", ABSENT),
    ("email", 12),
    ("email", f"{LONG}@example.com"),
    ("first_name", "A\x00da"),
    ("first_name", "A\ud800da"),
    ("first_name", LONG),
    ("first_name", " Ada "),
    ("first_name", None),
    ("first_name", ABSENT),
    ("first_name", ["Ada"]),
    ("phone_number", None),
    ("phone_number", ""),
    ("is_active", ABSENT),
    ("is_active", None),
    ("is_active", "true"),
    ("is_active", 1),
    ("is_active", False),
    ("email_allowed", ABSENT),
    ("sms_allowed", None),
    ("attributes", []),
    ("attributes", "text"),
    ("attributes", {"k": "\x00"}),
    ("attributes", {"\x00": 1}),
    ("attributes", None),
    ("attributes", {"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}}}),
    ("localized_attributes", {"tr": {"ad": 1}}),
    ("extra_field", ABSENT),
    ("date_joined", "2024-01-02T03:04:05"),  # naive: the default time zone
    ("date_joined", "2024-01-02T03:04:05+03:00"),
    ("date_joined", "2024-13-02T03:04:05Z"),
    ("date_joined", "yesterday"),
    ("date_joined", None),
    ("date_joined", ""),
    ("gender", "other"),
    ("gender", ""),
    ("gender", None),
    ("gender", "male"),
    ("user_type", 3),
    ("date_of_birth", "1990-02-30"),
    ("date_of_birth", "1990-05-17T00:00:00Z"),
    ("date_of_birth", None),
    ("channel", None),
    ("channel", ABSENT),
    ("channel", 999_999),
    ("channel", "1"),
    ("channel", True),
    ("channel_code", ABSENT),
    ("channel_code", ""),
    ("channel_code", None),
    ("pk", 5),  # read-only: ignored both ways
    ("created_date", "2020-01-01T00:00:00Z"),
    ("unknown", "ignored"),
    ("attributes_kwargs", {"alias": "of attribute_kwargs"}),
]


def outcome(run, data):
    try:
        return "valid", dict(run(data))
    except ValidationError as error:
        return "invalid", error.detail


def variant(row: dict, name: str, value) -> dict:
    row = dict(row)
    if value is ABSENT:
        row.pop(name, None)
    else:
        row[name] = value
    return row


@pytest.fixture
def channel(db):
    return ChannelFactory()


@pytest.fixture
def imported(channel):
    return ImportedCustomerSerializer(context={"channels": {channel.pk: channel}, "batch": True})


@pytest.mark.parametrize("partial", [False, True], ids=["create", "partial update"])
@pytest.mark.parametrize(("name", "value"), VARIATIONS, ids=lambda v: repr(v)[:40])
def test_each_row_comes_out_as_the_serializers_run_validation_says(imported, channel, partial, name, value):
    imported.partial = partial
    imported.instance = CustomerFactory(channel=channel) if partial else None
    data = variant(valid_row(channel), name, value)
    assert outcome(RowValidator(imported).run_validation, data) == outcome(imported.run_validation, data)


def test_an_erased_customers_email_is_refused_as_drf_refuses_it(imported, channel):
    """The serializer's validate() decides after the fields: its error is DRF's."""
    customer = CustomerFactory(channel=channel)
    Customer.objects.filter(pk=customer.pk).update(erased_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    customer.refresh_from_db()
    imported.instance, imported.partial = customer, True
    data = {"email": "back@example.com"}
    fast = outcome(RowValidator(imported).run_validation, data)
    assert fast == outcome(imported.run_validation, data)
    assert fast[0] == "invalid" and fast[1]["email"][0].code == "erased"


@pytest.mark.parametrize("partial", [False, True], ids=["create", "partial update"])
def test_a_valid_row_is_taken_without_drfs_field_machinery(imported, channel, monkeypatch, partial):
    imported.partial = partial
    imported.instance = CustomerFactory(channel=channel) if partial else None
    validator = RowValidator(imported)

    def refused(self, data):
        raise AssertionError("handed to DRF")

    monkeypatch.setattr(type(imported), "run_validation", refused)
    monkeypatch.setattr(serializers.Field, "run_validation", refused)
    rows = [valid_row(channel), variant(valid_row(channel), "gender", None), {"email": "only@example.com"}]
    validated = [validator.run_validation(row) for row in (rows if partial else rows[:2])]
    assert validated[0]["email"] == "ada@example.com" and validated[0]["channel"] == channel
    assert validated[0]["date_joined"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert validated[1]["gender"] is None


class Tag(models.Model):
    """A model of the test's own (never migrated): the serializers below are only built."""

    name = models.CharField(max_length=10)
    price = models.DecimalField(max_digits=5, decimal_places=2, null=True)

    class Meta:
        app_label = "customers"
        managed = False

    def __str__(self):
        return self.name


class WithValidators(ModelSerializer):
    class Meta:
        model = Tag
        fields = ("name",)
        validators = [lambda attrs: None]


class WithFieldMethod(ModelSerializer):
    class Meta:
        model = Tag
        fields = ("name",)

    def validate_name(self, value):
        return value


class WithDecimal(ModelSerializer):
    class Meta:
        model = Tag
        fields = ("name", "price")


class WithDottedSource(serializers.Serializer):
    name = serializers.CharField(source="tag.name")


@pytest.mark.parametrize("serializer_class", [WithValidators, WithFieldMethod, WithDecimal, WithDottedSource])
def test_what_it_does_not_repeat_is_refused(serializer_class):
    with pytest.raises(Unsupported):
        RowValidator(serializer_class())
