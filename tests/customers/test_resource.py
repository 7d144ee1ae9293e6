"""The standard cases (tests/resources.py) for /api/v1/customers/ and /api/v1/channel/{channel_id}/customers/."""

import datetime as dt

from customers.filters import CustomerFilterSet
from customers.models import Customer
from tests.factories import ChannelFactory, CustomerFactory
from tests.resources import Route, RouteTests, ids_in, made, plain

UTC = dt.UTC
NOON = dt.datetime(2024, 5, 2, 12, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
# (lookup, value, matched, missed) for a date-time field, around NOON on 2024-05-02.
DATETIME_LOOKUPS = [
    ("", "2024-05-02T12:00:00Z", NOON, NOON + HOUR),
    ("__gt", "2024-05-02T12:00:00Z", NOON + HOUR, NOON),
    ("__gte", "2024-05-02T12:00:00Z", NOON, NOON - HOUR),
    ("__lt", "2024-05-02T12:00:00Z", NOON - HOUR, NOON),
    ("__lte", "2024-05-02T12:00:00Z", NOON, NOON + HOUR),
    ("__date", "2024-05-02", NOON + 11 * HOUR, NOON + 12 * HOUR),
    ("__date__gt", "2024-05-02", NOON + 12 * HOUR, NOON + 11 * HOUR),
    ("__date__gte", "2024-05-02", NOON - 12 * HOUR, NOON - 13 * HOUR),
    ("__date__lt", "2024-05-02", NOON - 13 * HOUR, NOON - 12 * HOUR),
    ("__date__lte", "2024-05-02", NOON + 11 * HOUR, NOON + 12 * HOUR),
]
BIRTHDAY = dt.date(1990, 5, 17)
DAY = dt.timedelta(days=1)
DATE_LOOKUPS = [
    ("", BIRTHDAY, BIRTHDAY + DAY),
    ("__gt", BIRTHDAY + DAY, BIRTHDAY),
    ("__gte", BIRTHDAY, BIRTHDAY - DAY),
    ("__lt", BIRTHDAY - DAY, BIRTHDAY),
    ("__lte", BIRTHDAY, BIRTHDAY + DAY),
]


def in_channel(route, scope):
    """The customers of one channel (on the channel route, the path's) and not another channel's."""
    channel = scope.get("channel") or ChannelFactory()
    other = made(CustomerFactory, channel=ChannelFactory())
    return str(channel.pk), [route.make(scope, channel=channel)], [other]


CUSTOMER_FILTERS = {
    "channel": in_channel,
    "email": plain("John.Doe@EXAMPLE.com", {"email": "john.doe@example.com"},
                   [{"email": "john.doe@example.org"}, {"email": "xjohn.doe@example.com"}]),
    "email__startswith": plain("JOHN.", [{"email": "john.doe@example.com"}, {"email": "John.Roe@example.com"}],
                               {"email": "ajohn.doe@example.com"}),
    "channel_code": plain("ABC-1", {"channel_code": "ABC-1"}, [{"channel_code": "ABC-10"}, {"channel_code": "abc-1"}]),
    "phone_number": plain("05551112233", {"phone_number": "05551112233"},
                          [{"phone_number": "905551112233"}, {"phone_number": None}]),
    "first_name": plain("jOHN", [{"first_name": "John"}, {"first_name": "JOHN"}], {"first_name": "Johnny"}),
    "last_name": plain("dOE", {"last_name": "Doe"}, {"last_name": "Doerr"}),
    "erp_code": plain("rp-12", [{"erp_code": "ERP-123"}, {"erp_code": "erp-12"}],
                      [{"erp_code": "ERP-132"}, {"erp_code": None}]),
    "email_allowed": plain("true", {"email_allowed": True}, {"email_allowed": False}),
    "sms_allowed": plain("1", {"sms_allowed": True}, {"sms_allowed": False}),
    "call_allowed": plain("false", {"call_allowed": False}, {"call_allowed": True}),
    "gender": plain("female", {"gender": "female"}, [{"gender": "male"}, {"gender": None}]),
    "user_type": plain("guest", {"user_type": "guest"}, [{"user_type": "registered"}, {"user_type": None}]),
    "pk__in": ids_in,
    **{
        f"{field}{lookup}": plain(value, {field: match}, {field: miss})
        for field in ("created_date", "date_joined")
        for lookup, value, match, miss in DATETIME_LOOKUPS
    },
    **{
        f"date_of_birth{lookup}": plain(str(BIRTHDAY), {"date_of_birth": match}, {"date_of_birth": miss})
        for lookup, match, miss in DATE_LOOKUPS
    },
    # JSON keys: nested, and a number matching its spelling in the query string.
    "attributes__size__eu": plain("42", [{"attributes": {"size": {"eu": 42}}}, {"attributes": {"size": {"eu": "42"}}}],
                                  [{"attributes": {"size": {"eu": 43}}}, {"attributes": {"size": 42}}]),
    "extra_field__source": plain("import", {"extra_field": {"source": "import"}},
                                 [{"extra_field": {"source": "api"}}, {"extra_field": {}}]),
}  # fmt: skip

AT = dt.datetime(2024, 1, 1, tzinfo=UTC)
CUSTOMER_SORT_RECORDS = (
    {"email": "c@example.com", "first_name": "b", "last_name": "a", "date_joined": AT + 3 * DAY,
     "created_date": AT + 2 * DAY, "modified_date": AT},
    {"email": "a@example.com", "first_name": "c", "last_name": "b", "date_joined": AT + DAY,
     "created_date": AT, "modified_date": AT + 2 * DAY},
    {"email": "b@example.com", "first_name": "a", "last_name": "c", "date_joined": AT + 2 * DAY,
     "created_date": AT + DAY, "modified_date": AT + DAY},
)  # fmt: skip


class Customers(Route):
    name = "customers"
    model = Customer
    operations = ("list", "detailed_list", "create", "retrieve", "detailed", "update", "partial_update", "destroy")
    filterset = CustomerFilterSet
    text_fields = {"email": 254, "first_name": 255, "last_name": 255, "phone_number": 128, "channel_code": 64,
                   "erp_code": 64}  # fmt: skip
    json_fields = ("attributes", "attribute_kwargs", "localized_attributes", "localized_attribute_kwargs",
                   "extra_field")  # fmt: skip
    read_only = {"pk": 999999, "created_date": "2000-01-01T00:00:00Z", "modified_date": "2000-01-01T00:00:00Z"}
    filters = CUSTOMER_FILTERS
    sort_records = CUSTOMER_SORT_RECORDS

    def list_path(self, scope):
        return "/api/v1/customers/"

    def make(self, scope, **fields):
        return made(CustomerFactory, **fields)

    def create_body(self, scope):
        return {"email": "new@example.com", "channel_code": "new-1", "is_active": True, "first_name": "Ada",
                "last_name": "Lovelace", "phone_number": "05550001122", "erp_code": "E-1", "attributes": {"a": 1},
                "extra_field": {"source": "api"}, "email_allowed": True}  # fmt: skip

    def update_body(self, scope, record):
        return {"email": "replaced@example.com", "channel_code": record.channel_code, "is_active": False,
                "first_name": "Grace", "last_name": "Hopper", "phone_number": None, "erp_code": "E-2",
                "attributes": {}, "sms_allowed": True}  # fmt: skip

    def patch_body(self, scope, record):
        return {"first_name": "Patched", "extra_field": {"visits": 8}}


class TestCustomers(RouteTests):
    route = Customers()


class ChannelCustomers(Customers):
    """The same customer operations, scoped to the channel of the path (the route omnisdk and channel-app use)."""

    name = "channel_customers"
    read_only = {**Customers.read_only, "channel": 999999}  # the path's channel, whatever a body says

    def scope(self):
        return {"channel": ChannelFactory()}

    def list_path(self, scope):
        return f"/api/v1/channel/{scope['channel'].pk}/customers/"

    def make(self, scope, **fields):
        return made(CustomerFactory, **{"channel": scope["channel"], **fields})


class TestChannelCustomers(RouteTests):
    route = ChannelCustomers()
