"""On PostgreSQL every customer list filter can be served by an index.

With a handful of rows the planner prefers a sequential scan whatever indexes exist, so each EXPLAIN runs with
`SET LOCAL enable_seqscan = off` in the test's transaction: a Seq Scan that remains means no index can serve the
filter. The queryset's ordering is cleared, so a full scan of the primary key (which would return the rows in pk
order) does not stand in for an index on the filtered column; and the filtered condition must be the scan's index
condition, not a `Filter` applied row by row.
"""

import json

import pytest
from django.db import connection
from django.http import QueryDict

from customers.filters import CustomerFilterSet
from customers.models import Customer
from tests.factories import ChannelFactory, CustomerFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="index usage is a PostgreSQL plan property; SQLite serves these filters by other means",
    ),
]

TABLE = "customers_customer"

# Every filter in CustomerFilterSet.base_filters except `sort` (an ordering, not a condition), plus the JSON keys.
CASES = {
    "email": "john@example.com",
    "email__startswith": "john",
    "channel_code": "ABC-1",
    "phone_number": "05551112233",
    **{f"created_date{lookup}": "2024-03-10T12:00:00Z" for lookup in ("", "__gt", "__gte", "__lt", "__lte")},
    **{f"created_date{lookup}": "2024-03-10" for lookup in ("__date", "__date__gt", "__date__gte", "__date__lt",
                                                            "__date__lte")},
    **{f"date_joined{lookup}": "2024-03-10T12:00:00Z" for lookup in ("", "__gt", "__gte", "__lt", "__lte")},
    **{f"date_joined{lookup}": "2024-03-10" for lookup in ("__date", "__date__gt", "__date__gte", "__date__lt",
                                                           "__date__lte")},
    **{f"date_of_birth{lookup}": "1990-05-17" for lookup in ("", "__gt", "__gte", "__lt", "__lte")},
    "first_name": "john",
    "last_name": "doe",
    "erp_code": "rp-12",
    "email_allowed": "true",
    "sms_allowed": "false",
    "call_allowed": "1",
    "gender": "female",
    "user_type": "guest",
    "pk__in": "1,2,3",
    "attributes__color": "red",
    "attributes__size__eu": "42",
    "attributes__vip": "true",
    "extra_field__loyalty": "gold",
    "extra_field__0": "x",
}  # fmt: skip
CHANNEL = "channel"  # its value is a channel's id, known only once the channel exists


def filtered(params: dict):
    filterset = CustomerFilterSet(data=QueryDict(mutable=True) | params, queryset=Customer.objects.all())
    assert filterset.is_valid(), filterset.errors
    return filterset.qs.order_by()


def plan(queryset) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # lasts until the test's transaction is rolled back
    return json.loads(queryset.explain(format="json"))[0]["Plan"]


def nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from nodes(child)


def assert_served_by_an_index(params: dict, expect_pkey: bool = False):
    root = plan(filtered(params))
    scans = [node for node in nodes(root) if node.get("Relation Name") == TABLE]
    text = json.dumps(root, indent=1)
    assert scans, text
    for scan in scans:
        assert scan["Node Type"] != "Seq Scan", text
        assert scan["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}, text
        # The index narrows the rows: an Index Cond (a bitmap scan's lives in its Bitmap Index Scans). A `Filter`
        # beside one is a recheck, as a LIKE prefix keeps after its index range; without one, a row-by-row filter.
        conditions = [node.get("Index Cond") for node in nodes(scan) if "Index Name" in node]
        assert conditions and all(conditions), text
    indexes = {node["Index Name"] for node in nodes(root) if "Index Name" in node}
    assert indexes, text
    if not expect_pkey:
        # A full walk of the primary key would avoid the Seq Scan without serving the filter.
        assert f"{TABLE}_pkey" not in indexes, text
    return root


@pytest.fixture(autouse=True)
def rows():
    channel = ChannelFactory()
    CustomerFactory(channel=channel, email="john@example.com", attributes={"color": "red"}, erp_code="ERP-123")
    CustomerFactory.create_batch(3)


@pytest.mark.parametrize(("param", "value"), CASES.items(), ids=list(CASES))
def test_filter_is_served_by_an_index(param, value):
    assert_served_by_an_index({param: value}, expect_pkey=param == "pk__in")


def test_channel_filter_is_served_by_an_index():
    channel = ChannelFactory()
    assert_served_by_an_index({CHANNEL: str(channel.pk)})


def test_filters_combined_are_served_by_indexes():
    channel = ChannelFactory()
    root = plan(filtered({CHANNEL: str(channel.pk), "email": "john@example.com", "attributes__color": "red"}))
    assert all(node["Node Type"] != "Seq Scan" for node in nodes(root)), json.dumps(root, indent=1)


def test_every_filter_is_checked():
    """A filter added to CustomerFilterSet must be added here too."""
    checked = {param for param in CASES if not param.startswith(("attributes__", "extra_field__"))} | {CHANNEL}
    assert checked == set(CustomerFilterSet.base_filters) - {"sort"}
    assert {param.split("__")[0] for param in CASES if "__" in param} >= set(CustomerFilterSet.Meta.json_fields)
