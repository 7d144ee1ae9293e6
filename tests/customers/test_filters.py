"""List filters of GET /api/v1/customers/ (shared by /detailed/): one case per lookup, a match and a non-match each.

Every case creates customers that should and should not be returned and asserts the exact set of returned pks.
"""

import datetime as dt

import pytest
from django.db import connection

from customers.filters import CustomerFilterSet
from customers.models import Customer
from tests.factories import ChannelFactory, CustomerFactory

CUSTOMERS = "/api/v1/customers/"
DETAILED = "/api/v1/customers/detailed/"
UTC = dt.UTC


def rows(api, params: dict, url: str = CUSTOMERS) -> list[dict]:
    response = api.get(url, {"limit": 1000, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    return body["results"] if isinstance(body, dict) else body  # OMNITRON_LIST_FORMAT "paginated" or "array"


def listed(api, params: dict, url: str = CUSTOMERS) -> list[int]:
    """The returned pks, in the order returned."""
    return [row["pk"] for row in rows(api, params, url)]


def found(api, params: dict, url: str = CUSTOMERS) -> set[int]:
    return set(listed(api, params, url))


def bad_request(api, params: dict, url: str = CUSTOMERS) -> dict:
    response = api.get(url, params)
    assert response.status_code == 400, (params, response.status_code, response.content)
    return response.json()


def at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso).replace(tzinfo=UTC)


def created_at(customer: Customer, iso: str) -> Customer:
    """created_date is auto_now_add: it can only be set after the row exists."""
    Customer.objects.filter(pk=customer.pk).update(created_date=at(iso))
    return customer


def pks(*customers: Customer) -> set[int]:
    return {customer.pk for customer in customers}


# --- the spec's filters all exist ------------------------------------------------------------------------------

SPEC_FILTERS = {
    "email", "email__startswith",
    "channel", "channel_code", "phone_number",
    "created_date", "created_date__gt", "created_date__gte", "created_date__lt", "created_date__lte",
    "created_date__date", "created_date__date__gt", "created_date__date__gte", "created_date__date__lt",
    "created_date__date__lte",
    "date_joined", "date_joined__gt", "date_joined__gte", "date_joined__lt", "date_joined__lte",
    "date_joined__date", "date_joined__date__gt", "date_joined__date__gte", "date_joined__date__lt",
    "date_joined__date__lte",
    "date_of_birth", "date_of_birth__gt", "date_of_birth__gte", "date_of_birth__lt", "date_of_birth__lte",
    "pk__in",
    "first_name", "last_name", "erp_code",
    "email_allowed", "sms_allowed", "call_allowed",
    "gender", "user_type",
    "sort",
}  # fmt: skip


def test_missing_filters():
    """Like NetBox's test_missing_filters: every filter the spec lists is declared, and nothing else is."""
    declared = set(CustomerFilterSet.base_filters)
    assert SPEC_FILTERS - declared == set(), "filters in the spec but not in CustomerFilterSet"
    assert declared - SPEC_FILTERS == set(), "filters in CustomerFilterSet that the spec does not list"
    # `extra_field__<key>` / `attributes__<key>` take any key, so they are not in base_filters.
    assert set(CustomerFilterSet.Meta.json_fields) == {"attributes", "extra_field"}


# --- one case per plain filter ----------------------------------------------------------------------------------

# (parameter, value, fields of customers that match, fields of customers that do not)
PLAIN_CASES = [
    pytest.param(
        "email", "John.Doe@EXAMPLE.com",
        [{"email": "john.doe@example.com"}],
        [{"email": "john.doe@example.org"}, {"email": "xjohn.doe@example.com"}, {"email": "john.doe@example.com.tr"}],
        id="email",
    ),
    pytest.param(
        "email__startswith", "JOHN.",
        [{"email": "john.doe@example.com"}, {"email": "John.Roe@example.com"}],
        [{"email": "ajohn.doe@example.com"}, {"email": "johnxdoe@example.com"}],
        id="email__startswith",
    ),
    pytest.param(
        "channel_code", "ABC-1",
        [{"channel_code": "ABC-1"}],
        [{"channel_code": "ABC-10"}, {"channel_code": "XABC-1"}],
        id="channel_code",
    ),
    pytest.param(
        "phone_number", "05551112233",
        [{"phone_number": "05551112233"}],
        [{"phone_number": "05551112234"}, {"phone_number": "905551112233"}, {"phone_number": None}],
        id="phone_number",
    ),
    pytest.param(
        "first_name", "jOHN",
        [{"first_name": "John"}, {"first_name": "JOHN"}],
        [{"first_name": "Johnny"}, {"first_name": "Jon"}],
        id="first_name",
    ),
    pytest.param(
        "last_name", "dOE",
        [{"last_name": "Doe"}],
        [{"last_name": "Doerr"}, {"last_name": "Do"}],
        id="last_name",
    ),
    pytest.param(
        "erp_code", "rp-12",
        [{"erp_code": "ERP-123"}, {"erp_code": "erp-12"}],
        [{"erp_code": "ERP-132"}, {"erp_code": None}],
        id="erp_code",
    ),
    pytest.param("email_allowed", "true", [{"email_allowed": True}], [{"email_allowed": False}], id="email_allowed"),
    pytest.param("sms_allowed", "true", [{"sms_allowed": True}], [{"sms_allowed": False}], id="sms_allowed"),
    pytest.param("call_allowed", "true", [{"call_allowed": True}], [{"call_allowed": False}], id="call_allowed"),
    pytest.param(
        "gender", "female", [{"gender": "female"}], [{"gender": "male"}, {"gender": None}], id="gender"
    ),
    pytest.param(
        "user_type", "guest", [{"user_type": "guest"}], [{"user_type": "registered"}, {"user_type": None}],
        id="user_type",
    ),
    pytest.param(
        "date_of_birth", "1990-05-17",
        [{"date_of_birth": dt.date(1990, 5, 17)}],
        [{"date_of_birth": dt.date(1990, 5, 18)}, {"date_of_birth": dt.date(1990, 5, 16)}, {"date_of_birth": None}],
        id="date_of_birth",
    ),
    pytest.param(
        "date_of_birth__gt", "1990-05-17",
        [{"date_of_birth": dt.date(1990, 5, 18)}],
        [{"date_of_birth": dt.date(1990, 5, 17)}, {"date_of_birth": None}],
        id="date_of_birth__gt",
    ),
    pytest.param(
        "date_of_birth__gte", "1990-05-17",
        [{"date_of_birth": dt.date(1990, 5, 17)}, {"date_of_birth": dt.date(1990, 5, 18)}],
        [{"date_of_birth": dt.date(1990, 5, 16)}, {"date_of_birth": None}],
        id="date_of_birth__gte",
    ),
    pytest.param(
        "date_of_birth__lt", "1990-05-17",
        [{"date_of_birth": dt.date(1990, 5, 16)}],
        [{"date_of_birth": dt.date(1990, 5, 17)}, {"date_of_birth": None}],
        id="date_of_birth__lt",
    ),
    pytest.param(
        "date_of_birth__lte", "1990-05-17",
        [{"date_of_birth": dt.date(1990, 5, 16)}, {"date_of_birth": dt.date(1990, 5, 17)}],
        [{"date_of_birth": dt.date(1990, 5, 18)}, {"date_of_birth": None}],
        id="date_of_birth__lte",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("param", "value", "matching", "other"), PLAIN_CASES)
def test_plain_filter(api, param, value, matching, other):
    expected = pks(*(CustomerFactory(**fields) for fields in matching))
    CustomerFactory(first_name="Zed", last_name="Zed")  # the factory's defaults never match either
    for fields in other:
        CustomerFactory(**fields)
    assert found(api, {param: value}) == expected


@pytest.mark.parametrize(
    ("param", "value", "field", "stored"),
    [
        ("first_name", "ŞÜKRÜ", "first_name", "şükrü"),
        ("last_name", "ÇELIKÖZ", "last_name", "çeliköz"),
        ("email", "ÇAĞLA@EXAMPLE.COM", "email", "çağla@example.com"),
        ("email__startswith", "ÇAĞ", "email", "çağla@example.com"),
    ],
)
def test_case_insensitive_filters_fold_non_ascii_letters(api, param, value, field, stored):
    match = CustomerFactory(**{field: stored})
    CustomerFactory(**{field: stored.translate(str.maketrans("şüçğö", "sucgo"))})
    assert found(api, {param: value}) == pks(match)


def test_channel(api):
    channel, other_channel = ChannelFactory(), ChannelFactory()
    match = CustomerFactory(channel=channel, channel_code="same")
    CustomerFactory(channel=other_channel, channel_code="same")
    CustomerFactory(channel=None, channel_code="same")
    assert found(api, {"channel": channel.pk}) == pks(match)


def test_channel_code_is_case_sensitive(api):
    match = CustomerFactory(channel_code="ABC-1")
    CustomerFactory(channel_code="abc-1")
    assert found(api, {"channel_code": "ABC-1"}) == pks(match)


def test_email_startswith_treats_like_wildcards_literally(api):
    match = CustomerFactory(email="a_b%c@example.com")
    CustomerFactory(email="axb%c@example.com")
    CustomerFactory(email="a_bxc@example.com")
    assert found(api, {"email__startswith": "A_B%"}) == pks(match)


def test_pk_in(api):
    first, second, third = CustomerFactory.create_batch(3)
    assert found(api, {"pk__in": f"{first.pk},{third.pk}"}) == pks(first, third)
    assert found(api, {"pk__in": str(second.pk)}) == pks(second)


def test_pk_in_accepts_1000_values(api):
    customer, _ = CustomerFactory.create_batch(2)
    values = [customer.pk, *range(10**6, 10**6 + 999)]
    assert len(values) == 1000
    assert found(api, {"pk__in": ",".join(map(str, values))}) == pks(customer)


@pytest.mark.parametrize(
    ("param", "value"),
    [("email_allowed", "true"), ("email_allowed", "TRUE"), ("email_allowed", "True"), ("email_allowed", "1"),
     ("sms_allowed", "tRuE"), ("call_allowed", "1")],
)  # fmt: skip
def test_boolean_true_spellings(api, param, value):
    yes = CustomerFactory(**{param: True})
    CustomerFactory(**{param: False})
    assert found(api, {param: value}) == pks(yes)


@pytest.mark.parametrize(
    ("param", "value"),
    [("email_allowed", "false"), ("email_allowed", "FALSE"), ("email_allowed", "False"), ("email_allowed", "0"),
     ("sms_allowed", "fAlSe"), ("call_allowed", "0")],
)  # fmt: skip
def test_boolean_false_spellings(api, param, value):
    no = CustomerFactory(**{param: False})
    CustomerFactory(**{param: True})
    assert found(api, {param: value}) == pks(no)


@pytest.mark.parametrize("param", ["email", "gender", "email_allowed", "pk__in", "created_date__date", "channel"])
def test_an_empty_value_does_not_filter(api, param):
    everyone = pks(*CustomerFactory.create_batch(2))
    assert found(api, {param: ""}) == everyone


# --- created_date / date_joined: exact, comparisons, and __date at day boundaries --------------------------------

# Customers at these instants (UTC); T_LATE and T_NEXT straddle midnight between 2024-03-10 and 2024-03-11.
T_PREV, T_EARLY, T_LATE, T_NEXT = (
    "2024-03-09T23:59:59",
    "2024-03-10T00:00:00",
    "2024-03-10T23:59:59",
    "2024-03-11T00:00:00",
)
DATETIME_CASES = [
    pytest.param("", "2024-03-10T23:59:59Z", {T_LATE}, id="exact"),
    pytest.param("__gt", "2024-03-10T23:59:59Z", {T_NEXT}, id="gt"),
    pytest.param("__gte", "2024-03-10T23:59:59Z", {T_LATE, T_NEXT}, id="gte"),
    pytest.param("__lt", "2024-03-10T00:00:00Z", {T_PREV}, id="lt"),
    pytest.param("__lte", "2024-03-10T00:00:00Z", {T_PREV, T_EARLY}, id="lte"),
    pytest.param("__date", "2024-03-10", {T_EARLY, T_LATE}, id="date"),
    pytest.param("__date__gt", "2024-03-10", {T_NEXT}, id="date__gt"),
    pytest.param("__date__gte", "2024-03-10", {T_EARLY, T_LATE, T_NEXT}, id="date__gte"),
    pytest.param("__date__lt", "2024-03-10", {T_PREV}, id="date__lt"),
    pytest.param("__date__lte", "2024-03-10", {T_PREV, T_EARLY, T_LATE}, id="date__lte"),
]


@pytest.mark.parametrize(("lookup", "value", "expected"), DATETIME_CASES)
def test_created_date(api, lookup, value, expected):
    customers = {iso: created_at(CustomerFactory(), iso) for iso in (T_PREV, T_EARLY, T_LATE, T_NEXT)}
    assert found(api, {f"created_date{lookup}": value}) == pks(*(customers[iso] for iso in expected))


@pytest.mark.parametrize(("lookup", "value", "expected"), DATETIME_CASES)
def test_date_joined(api, lookup, value, expected):
    customers = {iso: CustomerFactory(date_joined=at(iso)) for iso in (T_PREV, T_EARLY, T_LATE, T_NEXT)}
    CustomerFactory(date_joined=None)
    assert found(api, {f"date_joined{lookup}": value}) == pks(*(customers[iso] for iso in expected))


def test_datetime_filters_honour_the_utc_offset(api):
    late = created_at(CustomerFactory(), T_LATE)
    created_at(CustomerFactory(), T_NEXT)
    # 03:00 at +03:00 is midnight UTC: only the customer before it.
    assert found(api, {"created_date__lt": "2024-03-11T03:00:00+03:00"}) == pks(late)
    assert found(api, {"created_date": "2024-03-11T02:59:59+03:00"}) == pks(late)


def test_datetime_filters_accept_fractional_seconds(api):
    customer = CustomerFactory(date_joined=at("2024-03-10T12:00:00.250000"))
    CustomerFactory(date_joined=at("2024-03-10T12:00:00"))
    assert found(api, {"date_joined": "2024-03-10T12:00:00.25Z"}) == pks(customer)
    assert found(api, {"date_joined__gt": "2024-03-10T12:00:00.1Z"}) == pks(customer)


def test_date_filters_on_the_last_representable_day(api):
    last = CustomerFactory(date_joined=dt.datetime(9999, 12, 31, 12, tzinfo=UTC))
    earlier = CustomerFactory(date_joined=at(T_LATE))
    CustomerFactory(date_joined=None)
    assert found(api, {"date_joined__date": "9999-12-31"}) == pks(last)
    assert found(api, {"date_joined__date__gt": "9999-12-31"}) == set()
    assert found(api, {"date_joined__date__gte": "9999-12-31"}) == pks(last)
    assert found(api, {"date_joined__date__lt": "9999-12-31"}) == pks(earlier)
    assert found(api, {"date_joined__date__lte": "9999-12-31"}) == pks(last, earlier)


# --- extra_field__<key> / attributes__<key> ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["attributes", "extra_field"])
def test_json_key(api, field):
    match = CustomerFactory(**{field: {"loyalty": "gold", "other": 1}})
    CustomerFactory(**{field: {"loyalty": "silver"}})
    CustomerFactory(**{field: {"other": "gold"}})
    CustomerFactory(**{field: {"loyalty": "Gold"}})
    CustomerFactory(**{field: {}})
    # The same key in the other JSON column does not count.
    CustomerFactory(**{"extra_field" if field == "attributes" else "attributes": {"loyalty": "gold"}})
    assert found(api, {f"{field}__loyalty": "gold"}) == pks(match)


@pytest.mark.parametrize("field", ["attributes", "extra_field"])
def test_json_nested_key(api, field):
    number = CustomerFactory(**{field: {"size": {"eu": 42, "us": 9}}})
    string = CustomerFactory(**{field: {"size": {"eu": "42"}}})
    CustomerFactory(**{field: {"size": {"us": 42}}})
    CustomerFactory(**{field: {"size": 42}})
    CustomerFactory(**{field: {"eu": 42}})
    CustomerFactory(**{field: {"size": {"eu": 43}}})
    CustomerFactory(**{field: {"size": {"eu": {"x": 42}}}})
    assert found(api, {f"{field}__size__eu": "42"}) == pks(number, string)


def test_json_three_levels_deep(api):
    match = CustomerFactory(attributes={"a": {"b": {"c": "x"}}})
    CustomerFactory(attributes={"a": {"b": {"c": "y"}}})
    CustomerFactory(attributes={"a": {"c": "x"}})
    assert found(api, {"attributes__a__b__c": "x"}) == pks(match)


@pytest.mark.parametrize(
    ("value", "matching", "other"),
    [
        pytest.param("30", [30, "30"], [31, "31", "030", 300, True, None], id="integer"),
        pytest.param("-2.5", [-2.5, "-2.5"], [2.5, "-2.50", -2], id="decimal"),
        pytest.param("true", [True, "true"], [False, "false", 1, "1", "True"], id="true"),
        pytest.param("false", [False, "false"], [True, 0, "0", None, ""], id="false"),
        pytest.param("1", [1, "1"], [True, "true", 0], id="one-is-not-true"),
        pytest.param("0", [0, "0"], [False, "false", 1], id="zero-is-not-false"),
        pytest.param("gold", ["gold"], ["Gold", "gold ", ["gold"]], id="string"),
    ],
)
def test_json_value_matches_the_string_or_the_number_or_boolean_it_spells(api, value, matching, other):
    expected = pks(*(CustomerFactory(attributes={"v": stored}) for stored in matching))
    for stored in other:
        CustomerFactory(attributes={"v": stored})
    CustomerFactory(attributes={})
    assert found(api, {"attributes__v": value}) == expected


@pytest.mark.parametrize("key", ["2024", "0", "a.b", "with space", "ü", "x-y", "it's", "back\\slash", "$", "a[0]", "*"])
def test_json_any_key(api, key):
    match = CustomerFactory(extra_field={key: "v"})
    CustomerFactory(extra_field={key: "w"})
    CustomerFactory(extra_field={"other": "v"})
    CustomerFactory(extra_field={"list": ["v"]})
    assert found(api, {f"extra_field__{key}": "v"}) == pks(match)


@pytest.mark.xfail(
    connection.vendor == "sqlite",
    strict=True,
    reason="SQLite JSON paths cannot escape a double quote inside a key (Django's own key lookups share this)",
)
def test_json_key_with_a_double_quote(api):
    match = CustomerFactory(extra_field={'say "hi"': "v"})
    CustomerFactory(extra_field={'say "hi"': "w"})
    assert found(api, {'extra_field__say "hi"': "v"}) == pks(match)


@pytest.mark.parametrize(
    ("raw", "other"),
    [
        ("1e400", [0, "1E400"]),
        ("NaN", [0, "nan"]),
        ("Infinity", [0, "-Infinity"]),
        ("123456789012345678901234567890", [0, "123456789012345678901234567891"]),
        ("1" * 400, [0, "1" * 399]),
        ('"quoted"', ["quoted"]),
        ("[1]", [[1], 1]),
        ("{}", [{}]),
        ("null", [None]),
    ],
    ids=["1e400", "NaN", "Infinity", "30-digit-integer", "400-digit-integer", "quoted", "array", "object", "null"],
)
def test_json_value_that_spells_no_finite_number_or_boolean_matches_only_the_string(api, raw, other):
    match = CustomerFactory(attributes={"v": raw})
    for stored in other:
        CustomerFactory(attributes={"v": stored})
    assert found(api, {"attributes__v": raw}) == pks(match)


def test_json_numeric_key_is_a_key_not_an_array_index(api):
    match = CustomerFactory(attributes={"0": "v"})
    CustomerFactory(attributes={"list": ["v"]})
    nested = CustomerFactory(attributes={"nested": {"0": "v"}})
    CustomerFactory(attributes={"nested": ["v"]})
    assert found(api, {"attributes__0": "v"}) == pks(match)
    assert found(api, {"attributes__nested__0": "v"}) == pks(nested)


def test_several_json_keys_are_anded(api):
    match = CustomerFactory(attributes={"color": "red", "size": {"eu": 42}}, extra_field={"loyalty": "gold"})
    CustomerFactory(attributes={"color": "red", "size": {"eu": 42}}, extra_field={"loyalty": "silver"})
    CustomerFactory(attributes={"color": "blue", "size": {"eu": 42}}, extra_field={"loyalty": "gold"})
    CustomerFactory(attributes={"color": "red", "size": {"eu": 41}}, extra_field={"loyalty": "gold"})
    params = {"attributes__color": "red", "attributes__size__eu": "42", "extra_field__loyalty": "gold"}
    assert found(api, params) == pks(match)


@pytest.mark.parametrize(
    "param",
    ["attributes__", "extra_field__", "attributes__a____b", "attributes__a__", "attributes__" + "__".join("k" * 9)],
)
def test_json_key_without_a_name_or_nested_too_deep_is_400(api, param):
    CustomerFactory()
    assert param in bad_request(api, {param: "x"})


def test_json_key_nested_eight_deep_is_allowed(api):
    path = list("abcdefgh")
    stored: object = "x"
    for key in reversed(path):
        stored = {key: stored}
    match = CustomerFactory(attributes=stored)
    CustomerFactory(attributes={"a": "x"})
    assert found(api, {"attributes__" + "__".join(path): "x"}) == pks(match)


# --- sort -----------------------------------------------------------------------------------------------------


def test_default_order_is_pk_ascending(api):
    customers = CustomerFactory.create_batch(4)
    # Creation times and names in the opposite order must not change the default.
    for offset, customer in enumerate(customers):
        created_at(customer, f"2024-01-{20 - offset:02d}T00:00:00")
    assert listed(api, {}) == [customer.pk for customer in customers]


SORT_FIELDS = ["pk", "id", "created_date", "modified_date", "date_joined", "email", "first_name", "last_name"]


@pytest.mark.parametrize("field", SORT_FIELDS)
def test_sort(api, field):
    # Created in pk order; the sort key runs in another order (second, third, first).
    first, second, third = CustomerFactory.create_batch(3)
    values = {
        "created_date": (at("2024-01-03T00:00:00"), at("2024-01-01T00:00:00"), at("2024-01-02T00:00:00")),
        "modified_date": (at("2024-01-03T00:00:00"), at("2024-01-01T00:00:00"), at("2024-01-02T00:00:00")),
        "date_joined": (at("2024-01-03T00:00:00"), at("2024-01-01T00:00:00"), at("2024-01-02T00:00:00")),
        "email": ("c@example.com", "a@example.com", "b@example.com"),
        "first_name": ("Cem", "Ada", "Bora"),
        "last_name": ("Celik", "Aksoy", "Bulut"),
    }
    if field in values:
        for customer, value in zip((first, second, third), values[field], strict=True):
            Customer.objects.filter(pk=customer.pk).update(**{field: value})
        ascending = [second.pk, third.pk, first.pk]
    else:
        ascending = [first.pk, second.pk, third.pk]
    assert listed(api, {"sort": field}) == ascending
    assert listed(api, {"sort": f"-{field}"}) == ascending[::-1]


def test_sort_by_several_fields(api):
    a = CustomerFactory(last_name="Aksoy", first_name="Zeki")
    b = CustomerFactory(last_name="Aksoy", first_name="Ali")
    c = CustomerFactory(last_name="Bulut", first_name="Ada")
    assert listed(api, {"sort": "last_name,-first_name"}) == [a.pk, b.pk, c.pk]
    assert listed(api, {"sort": "-last_name,first_name"}) == [c.pk, b.pk, a.pk]


def test_sort_ties_break_by_pk(api):
    customers = [CustomerFactory(last_name="Same") for _ in range(3)]
    assert listed(api, {"sort": "last_name"}) == [customer.pk for customer in customers]
    assert listed(api, {"sort": "-last_name"}) == [customer.pk for customer in customers]


@pytest.mark.parametrize("value", ["bogus", "-bogus", "email,bogus", "is_active", "attributes", "email desc"])
def test_sort_by_an_unknown_field_is_400_naming_sort(api, value):
    CustomerFactory()
    assert "sort" in bad_request(api, {"sort": value})


# --- invalid values: 400 naming the parameter, never match-all, never 500 --------------------------------------

INVALID = [
    ("created_date", "yesterday"),
    ("created_date", "2024-13-01T00:00:00Z"),
    ("created_date__gt", "2024-03-10T25:00:00"),
    ("created_date__gte", "2024-02-30T00:00:00Z"),
    ("created_date__lt", "abc"),
    ("created_date__lte", "1"),
    ("created_date__date", "2024-02-30"),
    ("created_date__date__gt", "tomorrow"),
    ("created_date__date__gte", "2024-03-32"),
    ("created_date__date__lt", "20240310x"),
    ("created_date__date__lte", "2024-00-10"),
    ("date_joined", "yesterday"),
    ("date_joined__gt", "abc"),
    ("date_joined__gte", "2024-13-01"),
    ("date_joined__lt", "2024-03-10T24:00:01Z"),
    ("date_joined__lte", "x"),
    ("date_joined__date", "2024-02-30"),
    ("date_joined__date__gt", "abc"),
    ("date_joined__date__gte", "2024-13-01"),
    ("date_joined__date__lt", "x"),
    ("date_joined__date__lte", "2024-02-31"),
    ("date_of_birth", "1990-02-30"),
    ("date_of_birth__gt", "abc"),
    ("date_of_birth__gte", "1990-13-01"),
    ("date_of_birth__lt", "yesterday"),
    ("date_of_birth__lte", "1990-05-17T00:00:00X"),
    ("email_allowed", "yes"),
    ("email_allowed", "2"),
    ("sms_allowed", "on"),
    ("sms_allowed", "tru"),
    ("call_allowed", "no"),
    ("call_allowed", "-1"),
    ("gender", "other"),
    ("gender", "MALE"),
    ("user_type", "admin"),
    ("user_type", "Guest"),
    ("pk__in", "1,a"),
    ("pk__in", "abc"),
    ("pk__in", "1.5"),
    ("pk__in", "1,,2"),
    ("pk__in", str(2**63)),
    ("pk__in", "9" * 40),
    ("pk__in", ",".join(str(n) for n in range(1, 1002))),
    ("channel", "abc"),
    ("channel", "1.5"),
    ("channel", "9" * 40),
    ("limit", "0"),
    ("limit", "-1"),
    ("limit", "abc"),
    ("limit", "1001"),
]


@pytest.mark.parametrize(("param", "value"), INVALID, ids=[f"{p}={v[:20]}" for p, v in INVALID])
def test_invalid_value_is_400_naming_the_parameter(api, param, value):
    CustomerFactory(email_allowed=True, gender="male", user_type="guest", date_of_birth=dt.date(1990, 5, 17))
    body = bad_request(api, {param: value})
    assert param in body, body


def test_pk_in_with_1001_values_says_at_most_1000(api):
    body = bad_request(api, {"pk__in": ",".join(str(n) for n in range(1, 1002))})
    assert "1000" in str(body["pk__in"])


def test_an_invalid_value_beside_valid_ones_is_still_400(api):
    CustomerFactory(gender="male")
    body = bad_request(api, {"gender": "male", "email_allowed": "maybe", "sort": "-email"})
    assert "email_allowed" in body


def test_several_invalid_values_are_all_named(api):
    body = bad_request(api, {"gender": "x", "created_date__gt": "x", "pk__in": "x"})
    assert {"gender", "created_date__gt", "pk__in"} <= set(body)


@pytest.mark.parametrize(
    "params",
    [
        {"email": "a\x00b@example.com"},
        {"first_name": "\x00"},
        {"erp_code": "x\x00"},
        {"email__startswith": "\x00"},
        {"attributes__color": "re\x00d"},
        {"extra_field__a\x00b": "x"},
        {"sort": "email\x00"},
        {"unknown\x00": "x"},
        {"pk__in": "1\x00"},
        {"created_date__date": "2024-03-10\x00"},
        {"page": "1\x00"},
        {"limit": "\x00"},
    ],
)
@pytest.mark.parametrize("url", [CUSTOMERS, DETAILED])
def test_nul_character_is_400(api, params, url):
    CustomerFactory(email="ab@example.com", attributes={"color": "red"})
    body = bad_request(api, params, url)
    assert set(params) <= set(body)


# --- combination and unknown parameters ------------------------------------------------------------------------


def test_filters_combine_with_and(api):
    channel, other_channel = ChannelFactory(), ChannelFactory()
    base = {
        "channel": channel,
        "email": "john@example.com",
        "gender": "male",
        "email_allowed": True,
        "date_of_birth": dt.date(1990, 5, 17),
        "attributes": {"color": "red"},
        "erp_code": "ERP-1",
    }
    match = created_at(CustomerFactory(**base), "2024-03-10T12:00:00")
    # Each of these differs from the match in exactly one filtered field.
    for change in (
        {"channel": other_channel},
        {"email": "johnny@example.com"},
        {"gender": "female"},
        {"email_allowed": False},
        {"date_of_birth": dt.date(1990, 5, 18)},
        {"attributes": {"color": "blue"}},
        {"erp_code": "XYZ"},
    ):
        created_at(CustomerFactory(**{**base, **change}), "2024-03-10T12:00:00")
    created_at(CustomerFactory(**base), "2024-03-11T12:00:00")
    params = {
        "channel": channel.pk,
        "email": "JOHN@example.com",
        "gender": "male",
        "email_allowed": "1",
        "date_of_birth__lte": "1990-05-17",
        "attributes__color": "red",
        "erp_code": "erp",
        "created_date__date": "2024-03-10",
    }
    assert found(api, params) == pks(match)
    # Each filter is needed: dropping any one of them lets its non-matching customer back in.
    for name in params:
        assert len(found(api, {k: v for k, v in params.items() if k != name})) == 2, name


def test_the_same_field_twice_narrows_a_range(api):
    inside = CustomerFactory(date_of_birth=dt.date(1990, 6, 1))
    CustomerFactory(date_of_birth=dt.date(1990, 1, 1))
    CustomerFactory(date_of_birth=dt.date(1991, 1, 1))
    assert found(api, {"date_of_birth__gte": "1990-02-01", "date_of_birth__lt": "1990-12-31"}) == pks(inside)


@pytest.mark.parametrize(
    "params",
    [
        {"colour": "red"},
        {"emial": "nobody@example.com"},
        {"email__contains": "nobody"},
        {"is_active": "false"},
        {"attributes": "x"},
        {"created_date__year": "1999"},
        {"ordering": "-pk", "search": "nobody"},
    ],
)
def test_unknown_parameters_are_ignored(api, params):
    everyone = pks(*CustomerFactory.create_batch(2, is_active=True))
    assert found(api, params) == everyone


def test_unknown_parameter_beside_a_filter_does_not_change_it(api):
    match = CustomerFactory(gender="female")
    CustomerFactory(gender="male")
    assert found(api, {"gender": "female", "colour": "red"}) == pks(match)


# --- /detailed/ shares the filters ---------------------------------------------------------------------------


def test_detailed_filters(api):
    channel = ChannelFactory()
    match = CustomerFactory(channel=channel, email="john@example.com", attributes={"size": {"eu": 42}})
    CustomerFactory(channel=channel, email="jane@example.com", attributes={"size": {"eu": 42}})
    CustomerFactory(email="john@example.com", channel_code="other", attributes={"size": {"eu": 42}})
    CustomerFactory(channel=channel, email="John@example.com", attributes={"size": {"eu": 41}}, channel_code="x")
    params = {"channel": channel.pk, "email": "john@example.com", "attributes__size__eu": "42"}
    assert found(api, params, DETAILED) == pks(match)
    assert rows(api, params, DETAILED)[0]["channel"]["pk"] == channel.pk  # the detailed shape, filtered


def test_detailed_sort_and_created_date(api):
    first = created_at(CustomerFactory(last_name="B"), "2024-03-10T23:59:59")
    second = created_at(CustomerFactory(last_name="A"), "2024-03-10T00:00:00")
    created_at(CustomerFactory(last_name="C"), "2024-03-11T00:00:00")
    assert listed(api, {"created_date__date": "2024-03-10", "sort": "last_name"}, DETAILED) == [second.pk, first.pk]


@pytest.mark.parametrize(
    ("param", "value"), [("gender", "other"), ("pk__in", "x"), ("sort", "bogus"), ("created_date__date", "x")]
)
def test_detailed_invalid_value_is_400(api, param, value):
    assert param in bad_request(api, {param: value}, DETAILED)


def test_detailed_ignores_unknown_parameters(api):
    everyone = pks(*CustomerFactory.create_batch(2))
    assert found(api, {"colour": "red"}, DETAILED) == everyone


@pytest.fixture
def filter_sets(monkeypatch):
    """The filter sets the requests build."""
    built = []
    real = CustomerFilterSet.__init__

    def building(self, *args, **kwargs):
        built.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(CustomerFilterSet, "__init__", building)
    return built


@pytest.mark.parametrize("url", [CUSTOMERS, DETAILED])
def test_a_page_and_its_size_alone_build_no_filter_set(api, filter_sets, url):
    first, second = CustomerFactory(), CustomerFactory()
    assert listed(api, {"page": 2, "limit": 1}, url) == [second.pk]
    assert listed(api, {"colour": "red", "limit": 1}, url) == [first.pk]  # a parameter naming no filter
    assert filter_sets == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [({"email": "b@example.com"}, ["b"]), ({"attributes__color": "red"}, ["a"]), ({"sort": "-email"}, ["b", "a"])],
)
def test_a_parameter_naming_a_filter_builds_the_filter_set(api, filter_sets, params, expected):
    by_email = {
        "a": CustomerFactory(email="a@example.com", attributes={"color": "red"}),
        "b": CustomerFactory(email="b@example.com"),
    }
    assert listed(api, params) == [by_email[name].pk for name in expected]
    assert len(filter_sets) == 1


def test_an_offset_postgresql_cannot_store_is_converted_to_utc_first(api):
    # Python accepts offsets up to ±23:59, PostgreSQL only ±15:59: the filter compares in UTC.
    early, late = CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=early.pk).update(created_date=dt.datetime(2024, 3, 10, 17, 0, tzinfo=dt.UTC))
    Customer.objects.filter(pk=late.pk).update(created_date=dt.datetime(2024, 3, 10, 17, 10, tzinfo=dt.UTC))
    assert found(api, {"created_date__gt": "2024-03-10T00:00:00-17:05"}) == pks(late)


def test_a_date_time_outside_the_utc_calendar_is_400(api):
    body = bad_request(api, {"created_date__gte": "0001-01-01T00:00:00+05:00"})
    assert body["created_date__gte"] and body["code"] == "overflow"
