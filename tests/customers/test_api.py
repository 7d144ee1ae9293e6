"""The eight customer operations: success and each error."""

import pytest

from customers.models import Customer
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory

CUSTOMERS = "/api/v1/customers/"
REQUIRED = ("email", "channel_code", "is_active")
CONSENT_FLAGS = ("email_allowed", "sms_allowed", "call_allowed")


def detail(pk) -> str:
    return f"{CUSTOMERS}{pk}/"


@pytest.fixture
def payload() -> dict:
    return {
        "email": "john.doe@example.com",
        "first_name": "John",
        "last_name": "Doe",
        "phone_number": "05556667788",
        "is_active": True,
        "channel_code": "1",
        "erp_code": "ERP-1",
        "attributes": {"size": {"eu": 42}},
        "attribute_kwargs": {"a": 1},
        "localized_attributes": {"tr": {"name": "Ahmet"}},
        "localized_attribute_kwargs": {"b": 2},
        "extra_field": {"loyalty": "gold"},
        "email_allowed": False,
        "sms_allowed": True,
        "call_allowed": False,
        "date_joined": "2024-01-29T08:27:18Z",
        "gender": "male",
        "user_type": "registered",
        "date_of_birth": "1990-05-17",
        "channel": None,
    }


FIELDS = {
    "pk", "email", "first_name", "last_name", "phone_number", "is_active", "channel_code", "erp_code", "attributes",
    "attribute_kwargs", "localized_attributes", "localized_attribute_kwargs", "extra_field", "email_allowed",
    "sms_allowed", "call_allowed", "date_joined", "gender", "user_type", "date_of_birth", "channel", "created_date",
    "modified_date",
}  # fmt: skip


# --- create ---------------------------------------------------------------------------------------------------


def test_create_returns_201_with_every_field(api, payload):
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    for name, value in payload.items():
        if name != "date_joined":
            assert body[name] == value, name
    assert body["date_joined"] == "2024-01-29T08:27:18Z"
    assert Customer.objects.get(pk=body["pk"]).email == payload["email"]


def test_create_with_only_required_fields_uses_defaults(api):
    body = {"email": "a@example.com", "channel_code": "c", "is_active": False}
    response = api.post(CUSTOMERS, body, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["attributes"] == {} and created["extra_field"] == {}
    assert created["first_name"] == "" and created["phone_number"] is None and created["channel"] is None
    assert [created[flag] for flag in CONSENT_FLAGS] == [False, False, False]
    stored = Customer.objects.get(pk=created["pk"])
    assert [getattr(stored, flag) for flag in CONSENT_FLAGS] == [False, False, False]


def test_create_with_channel_apps_body_is_201(api):
    """What channel-app's GetOrCreateCustomer sends: no consent flags, a null phone number, an empty extra_field."""
    channel = ChannelFactory()
    body = {"channel": channel.pk, "email": "ada@example.com", "phone_number": None, "first_name": "Ada",
            "last_name": "Lovelace", "extra_field": {}, "channel_code": "ca-1", "is_active": True}  # fmt: skip
    response = api.post(CUSTOMERS, body, format="json")
    assert response.status_code == 201, response.json()
    assert {flag: response.json()[flag] for flag in CONSENT_FLAGS} == dict.fromkeys(CONSENT_FLAGS, False)


@pytest.mark.parametrize("flag", CONSENT_FLAGS)
def test_create_with_one_consent_flag_given_keeps_it_and_defaults_the_others(api, payload, flag):
    for name in CONSENT_FLAGS:
        del payload[name]
    payload[flag] = True
    created = api.post(CUSTOMERS, payload, format="json").json()
    assert {name: created[name] for name in CONSENT_FLAGS} == {name: name == flag for name in CONSENT_FLAGS}


@pytest.mark.parametrize("flag", CONSENT_FLAGS)
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_null_consent_flag_is_400_null(api, payload, flag, method):
    customer = CustomerFactory(channel_code="other", **dict.fromkeys(CONSENT_FLAGS, True))
    payload[flag] = None
    url = CUSTOMERS if method == "post" else detail(customer.pk)
    response = getattr(api, method)(url, payload, format="json")
    assert response.status_code == 400
    assert response.json()[flag] == ["This field may not be null."]
    assert response.json()["code"] == "null"
    assert Customer.objects.count() == 1
    customer.refresh_from_db()
    assert getattr(customer, flag) is True


@pytest.mark.parametrize("missing", REQUIRED)
def test_create_without_a_required_field_is_400_required(api, payload, missing):
    del payload[missing]
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()[missing] == ["This field is required."]
    assert response.json()["code"] == "required"


def test_create_ignores_pk_and_read_only_dates(api, payload):
    CustomerFactory()
    payload.update(pk=12345, created_date="2000-01-01T00:00:00Z", modified_date="2000-01-01T00:00:00Z")
    body = api.post(CUSTOMERS, payload, format="json").json()
    assert body["pk"] != 12345
    assert not body["created_date"].startswith("2000")
    assert not Customer.objects.filter(pk=12345).exists()


def test_create_accepts_the_production_spelling_of_kwargs_fields(api, payload):
    del payload["attribute_kwargs"], payload["localized_attribute_kwargs"]
    payload.update(attributes_kwargs={"x": 1}, localized_attributes_kwargs={"y": 2})
    body = api.post(CUSTOMERS, payload, format="json").json()
    assert body["attribute_kwargs"] == {"x": 1}
    assert body["localized_attribute_kwargs"] == {"y": 2}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("email", "not-an-email", "invalid"),
        ("first_name", "x" * 256, "max_length"),
        ("last_name", "x" * 256, "max_length"),
        ("phone_number", "1" * 129, "max_length"),
        ("channel_code", "c" * 65, "max_length"),
        ("erp_code", "e" * 65, "max_length"),
        ("gender", "other", "invalid_choice"),
        ("user_type", "admin", "invalid_choice"),
        ("date_of_birth", "17/05/1990", "invalid"),
        ("date_joined", "yesterday", "invalid"),
        ("is_active", "maybe", "invalid"),
        ("attributes", [1, 2], "not_an_object"),
        ("extra_field", "text", "not_an_object"),
        ("localized_attributes", None, "null"),
        ("channel", "abc", "incorrect_type"),
        ("channel", 999999, "does_not_exist"),
        ("channel", 10**30, "does_not_exist"),
        ("channel_code", "", "blank"),
    ],
)
def test_create_with_an_invalid_value_is_400_naming_the_field(api, payload, field, value, code):
    payload[field] = value
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert response.json()["code"] == code
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "a\x00b"),
        ("email", "a\x00@example.com"),
        ("attributes", {"k": "a\x00b"}),
        ("attributes", {"a\x00": "v"}),
        ("extra_field", {"list": ["ok", {"deep": "\x00"}]}),
        ("localized_attributes", {"x": {"y\x00": 1}}),
    ],
)
def test_nul_characters_anywhere_are_400(api, payload, field, value):
    payload[field] = value
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_json_nested_too_deep_is_400(api, payload):
    nested: dict = {}
    for _ in range(40):
        nested = {"k": nested}
    payload["attributes"] = nested
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"


def test_create_in_a_channel(api, payload):
    channel = ChannelFactory()
    payload["channel"] = channel.pk
    body = api.post(CUSTOMERS, payload, format="json").json()
    assert body["channel"] == channel.pk


def test_channel_code_is_unique_within_a_channel(api, payload):
    channel = ChannelFactory()
    CustomerFactory(channel=channel, channel_code="1")
    payload["channel"] = channel.pk
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unique"
    assert "channel_code" in response.json()


def test_channel_code_is_unique_among_customers_without_channel(api, payload):
    CustomerFactory(channel=None, channel_code="1")
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unique"


def test_same_channel_code_in_another_channel_is_allowed(api, payload):
    CustomerFactory(channel=ChannelFactory(), channel_code="1")
    payload["channel"] = ChannelFactory().pk
    assert api.post(CUSTOMERS, payload, format="json").status_code == 201


def test_a_unique_conflict_lost_to_a_concurrent_writer_is_400_unique(api, payload, monkeypatch):
    """The database constraint is the last word: validation passed, then another request took the code."""
    from customers.serializers import CustomerSerializer

    original = CustomerSerializer.validate

    def validate_then_lose_the_race(self, attrs):
        attrs = original(self, attrs)
        if not getattr(self, "_raced", False):
            self._raced = True
            CustomerFactory(channel=None, channel_code=attrs["channel_code"])
        return attrs

    monkeypatch.setattr(CustomerSerializer, "validate", validate_then_lose_the_race)
    response = api.post(CUSTOMERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unique"
    assert Customer.objects.filter(channel_code="1").count() == 1


# --- retrieve -------------------------------------------------------------------------------------------------


def test_retrieve(api):
    customer = CustomerFactory(attributes={"a": 1})
    response = api.get(detail(customer.pk))
    assert response.status_code == 200
    assert response.json()["pk"] == customer.pk
    assert response.json()["attributes"] == {"a": 1}
    assert set(response.json()) == FIELDS


def test_retrieve_unknown_is_404(api):
    assert api.get(detail(424242)).status_code == 404


# --- update (PUT) ---------------------------------------------------------------------------------------------


def test_put_replaces_the_customer(api, payload):
    customer = CustomerFactory(channel_code="1")
    payload["first_name"] = "Jane"
    response = api.put(detail(customer.pk), payload, format="json")
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.first_name == "Jane"
    assert customer.extra_field == {"loyalty": "gold"}


@pytest.mark.parametrize("missing", REQUIRED)
def test_put_requires_every_required_field(api, payload, missing):
    customer = CustomerFactory()
    del payload[missing]
    response = api.put(detail(customer.pk), payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "required"


def test_put_without_consent_flags_keeps_the_stored_ones(api, payload):
    """DRF's rule for a field with a model default: not required, and an omitted one is left as stored."""
    customer = CustomerFactory(channel_code="1", email_allowed=True, sms_allowed=False, call_allowed=True)
    for flag in CONSENT_FLAGS:
        del payload[flag]
    payload["first_name"] = "Jane"
    response = api.put(detail(customer.pk), payload, format="json")
    assert response.status_code == 200
    expected = {"email_allowed": True, "sms_allowed": False, "call_allowed": True}
    assert {flag: response.json()[flag] for flag in CONSENT_FLAGS} == expected
    customer.refresh_from_db()
    assert {flag: getattr(customer, flag) for flag in CONSENT_FLAGS} == expected
    assert customer.first_name == "Jane"


def test_put_keeping_its_own_channel_code_is_not_a_conflict(api, payload):
    customer = CustomerFactory(channel_code="1")
    assert api.put(detail(customer.pk), payload, format="json").status_code == 200


def test_put_taking_another_customers_channel_code_is_400_unique(api, payload):
    CustomerFactory(channel_code="1")
    customer = CustomerFactory(channel_code="2")
    response = api.put(detail(customer.pk), payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unique"


def test_put_unknown_is_404(api, payload):
    assert api.put(detail(424242), payload, format="json").status_code == 404


# --- partial update (PATCH) -----------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(api):
    customer = CustomerFactory(first_name="John", last_name="Doe", sms_allowed=False)
    response = api.patch(detail(customer.pk), {"sms_allowed": True}, format="json")
    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name, customer.sms_allowed) == ("John", "Doe", True)


def test_patch_with_channel_and_channel_code_resent_like_integrations_do(api):
    channel = ChannelFactory()
    customer = CustomerFactory(channel=channel, channel_code="c-1")
    response = api.patch(
        detail(customer.pk), {"channel": channel.pk, "channel_code": "c-1", "first_name": "New"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "New"


def test_patch_moving_into_a_channel_where_the_code_is_taken_is_400_unique(api):
    channel = ChannelFactory()
    CustomerFactory(channel=channel, channel_code="c-1")
    customer = CustomerFactory(channel=None, channel_code="c-1")
    response = api.patch(detail(customer.pk), {"channel": channel.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unique"


def test_patch_validates_values(api):
    customer = CustomerFactory()
    response = api.patch(detail(customer.pk), {"gender": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_choice"


def test_patch_updates_modified_date(api):
    customer = CustomerFactory()
    before = api.get(detail(customer.pk)).json()["modified_date"]
    after = api.patch(detail(customer.pk), {"first_name": "Changed"}, format="json").json()["modified_date"]
    assert after > before


def test_patch_unknown_is_404(api):
    assert api.patch(detail(424242), {"first_name": "x"}, format="json").status_code == 404


# --- delete ---------------------------------------------------------------------------------------------------


def test_delete_is_204(api):
    customer = CustomerFactory()
    response = api.delete(detail(customer.pk))
    assert response.status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()


def test_customer_with_orders_cannot_be_deleted(api):
    order = OrderFactory()
    response = api.delete(detail(order.customer_id))
    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert Customer.objects.filter(pk=order.customer_id).exists()
    order.refresh_from_db()


def test_delete_unknown_is_404(api):
    assert api.delete(detail(424242)).status_code == 404
