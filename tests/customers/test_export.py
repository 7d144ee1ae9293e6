"""`GET /api/v1/customers/export/` and `omnitron export_customers` (apicore.export): every matching row, streamed.

Each record must be what the API answers for it, byte for byte (JSON Lines) or by the documented cell conventions
(CSV); every row must arrive once, in the order asked, whatever the batch size; the list's filters, permissions and
errors apply; memory must not grow with the number of rows; and a client that goes away must stop the reading.
"""

import csv
import datetime as dt
import io
import json
import subprocess
import time
import tracemalloc
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.urls import resolve
from rest_framework import serializers

from apicore import export, lines
from apicore.readpath import ReadPath
from apicore.renderers import JSONRenderer
from customers.models import Customer, CustomerLine
from customers.serializers import CustomerDetailedSerializer, CustomerSerializer
from tests.conftest import NESTED, grant, token_client
from tests.contract.conftest import OMNITRON, start_server, throwaway_database
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory

EXPORT = "/api/v1/customers/export/"
CUSTOMERS = "/api/v1/customers/"
UTC = dt.UTC
RENDERER = JSONRenderer()
# A write around the model bumps the version, as apicore.models.VersionField asks: the record's stored line
# (apicore.lines) is then stale and not exported.
BUMPED = F("version") + 1


def download(client, params: dict | None = None, url: str = EXPORT):
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    assert response.streaming
    return response, b"".join(response.streaming_content)


def jsonl(client, params: dict | None = None, url: str = EXPORT) -> list[dict]:
    _, body = download(client, params, url)
    assert body == b"" or body.endswith(b"\n")
    return [json.loads(line) for line in body.split(b"\n")[:-1]]


def exported(client, params: dict | None = None, url: str = EXPORT) -> list[int]:
    """The exported pks, in the order exported."""
    return [record["pk"] for record in jsonl(client, params, url)]


def listed(client, params: dict | None = None, url: str = CUSTOMERS) -> list[int]:
    response = client.get(url, {"limit": 1000, **(params or {})})
    assert response.status_code == 200, response.content
    body = response.json()
    return [row["pk"] for row in (body["results"] if isinstance(body, dict) else body)]


def at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso).replace(tzinfo=UTC)


@pytest.fixture(params=[1, 2, 3, 1000], ids=lambda size: f"batch{size}")
def batch_size(request, monkeypatch) -> int:
    """Batches of every size around the row counts: a single row, a few, and all at once."""
    monkeypatch.setattr(export, "BATCH_SIZE", request.param)
    return request.param


# --- Each record as the API answers it --------------------------------------------------------------------------


@pytest.fixture
def varied(rich):
    """Every kind of value: `rich`'s customers (unicode, nested JSON, a 2**70 and a 1e-05 in JSON, U+2029, every
    nullable null, blank choices, the year 1, a channel and none) and more: date-times without microseconds, U+2028 in
    a plain field, fractions, arrays and a 20-digit number in JSON, quotes and backslashes, empty strings, small
    floats beside no long number."""
    channel = rich["channel"]
    whole_second = CustomerFactory(
        channel=channel,
        first_name="Çizgi\u2028ayraç",
        date_joined=at("2024-01-01T00:00:00"),
        extra_field={"oran": 0.5, "liste": [1, "ğ", None, {"k": []}], "boş": {}},
        attributes=NESTED,
    )
    Customer.objects.filter(pk=whole_second.pk).update(created_date=at("2023-05-05T05:05:05"), version=BUMPED)
    CustomerFactory(
        channel=None,
        date_joined=at("2024-06-30T12:30:45.000001"),
        last_name='çift " ve \\ ters',
        phone_number="",
        erp_code="",
        attributes={"uzun": 12345678901234567890123, "eksi": -1.25e-7},
        localized_attributes={"tr": {"ad": "Ömer"}},
    )
    CustomerFactory(email="sade@example.com", first_name="Sade", last_name="Kayda")
    CustomerFactory(extra_field={"küçük": 2.5e-6, "nul": 0.0}, attributes={"oran": -0.00003})  # no long number
    return list(Customer.objects.order_by("pk"))


def test_jsonl_is_each_record_as_the_api_renders_it_byte_for_byte(api, varied, batch_size):
    """The differential test: each line is JSONRenderer().render(CustomerSerializer(record).data), then `\\n`."""
    _, body = download(api)
    expected = b"".join(RENDERER.render(CustomerSerializer(record).data) + b"\n" for record in varied)
    assert body == expected


def test_jsonl_lines_equal_the_list_endpoints_records(api, varied):
    assert jsonl(api) == api.get(CUSTOMERS, {"limit": 1000}).json()


def test_the_column_representation_matches_drf_for_edge_date_times():
    """What Representation.column_representers writes for a whole column (orjson) is DRF's text, value by value."""
    from rest_framework import serializers

    from apicore.readpath import _iso_date_column, _utc_iso_column

    moments = [
        dt.datetime(1, 1, 1, tzinfo=UTC),
        dt.datetime(999, 12, 31, 23, 59, 59, 10, tzinfo=UTC),
        dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2024, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ]
    field = serializers.DateTimeField()
    assert _utc_iso_column(moments, field) == [None if m is None else field.to_representation(m) for m in moments]
    days = [dt.date(1, 1, 1), dt.date(999, 1, 2), dt.date(2024, 2, 29), dt.date(9999, 12, 31), None]
    date_field = serializers.DateField()
    assert _iso_date_column(days, date_field) == [None if d is None else date_field.to_representation(d) for d in days]


def test_a_long_number_is_found_as_the_json_field_finds_it():
    from apicore.models import LONG_NUMBER

    for text in ['{"a": 1}', '{"a": 12345678901234567890}', '{"a": "1234567890123456789"}', '{"ş": "٠١٢٣٤٥٦٧٨٩" }',
                 '[' + "9" * 19 + ', 1]', '"\ud800"' + "1" * 20]:  # fmt: skip
        assert export._has_long_number(text.encode("utf-8", "surrogatepass")) == bool(LONG_NUMBER.search(text)), text


class Scaled(serializers.IntegerField):
    """A field whose representation of an integer column is a float below 1e-4 (orjson spells those otherwise)."""

    def to_representation(self, value):
        return value * 1e-9


class ScaledSerializer(serializers.ModelSerializer):
    scaled = Scaled(source="pk")

    class Meta:
        model = Customer
        fields = ("pk", "email", "scaled", "extra_field")


def test_a_small_float_of_any_column_is_written_as_drf_writes_it(api, varied, batch_size):
    """Small floats come from JSON texts (`varied`: 1e-05, -1.25e-7) and from a field's own to_representation: each
    batch that may hold one is written as JSONRenderer writes it, whatever the batch holds beside it."""
    queryset = Customer.objects.order_by("pk")
    body = b"".join(export.Export(queryset, ScaledSerializer, "jsonl").chunks())
    assert body == b"".join(RENDERER.render(ScaledSerializer(record).data) + b"\n" for record in varied)
    assert b"e-0" in body  # Python's spelling (e-08), not orjson's (e-8)


def test_a_batch_known_to_hold_no_small_float_is_not_scanned(db, monkeypatch):
    """The lines of a batch whose JSON texts spell no small float, and whose other columns are scalars, are not
    scanned for one; a batch whose JSON texts may spell one is."""
    CustomerFactory(extra_field={"puan": 12.75, "e-posta": "a@b"}, attributes={})
    CustomerFactory(extra_field={"oran": 0.5}, attributes={"tiny": 0.00001})
    CustomerLine.objects.all().delete()  # built from their columns
    scanned = []
    monkeypatch.setattr(export, "_float_repr_differs", lambda body: scanned.append(body) or False)
    monkeypatch.setattr(export, "BATCH_SIZE", 1)
    queryset = Customer.objects.order_by("pk")
    body = b"".join(export.Export(queryset, CustomerSerializer, "jsonl").chunks())
    lines = body.split(b"\n")[:-1]
    assert scanned == [lines[0] + b"\n", lines[1] + b"\n"]  # the first: "e-" in a string, so it may
    Customer.objects.update(extra_field={"puan": 12.75}, attributes={"a": [1, 2.5]})
    scanned.clear()
    assert b"".join(export.Export(queryset, CustomerSerializer, "jsonl").chunks()).count(b"\n") == 2
    assert scanned == []


def test_detailed_is_each_record_as_the_detailed_serializer_renders_it(api, varied, batch_size):
    OrderFactory(customer=varied[1], channel=varied[0].channel)
    records = Customer.objects.select_related("channel").order_by("pk")
    _, body = download(api, {"detailed": "true"})
    assert body == b"".join(RENDERER.render(CustomerDetailedSerializer(record).data) + b"\n" for record in records)
    assert jsonl(api, {"detailed": "true"}) == api.get(f"{CUSTOMERS}detailed/", {"limit": 1000}).json()


def test_orders_info_is_read_once_per_batch_in_the_detailed_export(api, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    for _ in range(6):
        RefundFactory(order=OrderFactory(customer=CustomerFactory(channel=ChannelFactory())))
    monkeypatch.setattr(export, "BATCH_SIZE", 3)
    with CaptureQueriesContext(connection) as queries:
        records = jsonl(api, {"detailed": "true"})
    assert [record["orders_info"]["total_order_count"] for record in records] == [1] * 6
    totals = [q for q in queries.captured_queries if '"orders_order"' in q["sql"]]
    assert len(totals) == 2  # two batches of three


def cell(value) -> str:
    """The documented CSV conventions, written independently of apicore.export."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | float):
        return RENDERER.render(value).decode()
    return str(value)


def test_csv_is_a_header_then_each_record_by_the_cell_conventions(api, varied, batch_size):
    response, body = download(api, {"format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="customers.csv"'
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert rows[0] == list(CustomerSerializer().fields)
    assert rows[1:] == [[cell(value) for value in CustomerSerializer(record).data.values()] for record in varied]
    assert body.count(b"\r\n") >= len(varied) + 1 and body.endswith(b"\r\n")


def test_csv_cells_spell_nulls_booleans_and_json_as_documented(api, db):
    CustomerFactory(phone_number=None, is_active=True, email_allowed=False, attributes={"a": [1, "ş"]},
                    date_joined=at("2024-03-01T10:00:00"), first_name='Virgül, "çift"')  # fmt: skip
    _, body = download(api, {"format": "csv"})
    header, row = csv.reader(io.StringIO(body.decode(), newline=""))
    record = dict(zip(header, row, strict=True))
    assert record["phone_number"] == ""
    assert (record["is_active"], record["email_allowed"]) == ("true", "false")
    assert record["attributes"] == '{"a":[1,"ş"]}'
    assert record["date_joined"] == "2024-03-01T10:00:00Z"
    assert record["first_name"] == 'Virgül, "çift"'
    assert 'Virgül, ""çift""'.encode() in body  # the csv module's quoting


def test_csv_detailed_writes_the_channel_and_orders_info_as_json(api, db):
    channel = ChannelFactory(name="Web")
    customer = CustomerFactory(channel=channel)
    OrderFactory(customer=customer, channel=channel)
    CustomerFactory(channel=None)
    _, body = download(api, {"format": "csv", "detailed": "true"})
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert rows[0] == list(CustomerDetailedSerializer().fields)
    data = CustomerDetailedSerializer(Customer.objects.order_by("pk"), many=True).data
    assert rows[1:] == [[cell(value) for value in record.values()] for record in data]
    assert json.loads(rows[1][rows[0].index("channel")])["name"] == "Web"
    assert rows[2][rows[0].index("channel")] == ""


def test_jsonl_is_the_default_format_with_its_headers(api, db):
    CustomerFactory()
    for params in ({}, {"format": "jsonl"}, {"format": ""}):
        response, body = download(api, params)
        assert response["Content-Type"] == "application/jsonl"
        assert response["Content-Disposition"] == 'attachment; filename="customers.jsonl"'
        assert body.count(b"\n") == 1


def test_no_matching_row_is_an_empty_file_or_a_header(api, db):
    assert download(api, {"email": "nobody@example.com"})[1] == b""
    _, body = download(api, {"email": "nobody@example.com", "format": "csv"})
    assert body == (",".join(CustomerSerializer().fields) + "\r\n").encode()


def test_head_answers_the_headers_and_reads_no_row(api, db):
    CustomerFactory()
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = api.head(EXPORT, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content) == b""
    assert not [q for q in queries.captured_queries if '"customers_customer"' in q["sql"]]


# --- Every row once, in the order asked -------------------------------------------------------------------------


@pytest.fixture
def sortable(db):
    """Ties and NULLs in date_joined, ties in first_name and created_date."""
    joined = [None, "2024-01-01", "2024-01-02", None, "2024-01-01", "2024-01-03", None, "2024-01-02", "2024-01-01"]
    names = ["b", "a", "c", "a", "b", "a", "c", "b", "a"]
    customers = [
        CustomerFactory(first_name=name, date_joined=at(day) if day else None)
        for name, day in zip(names, joined, strict=True)
    ]
    Customer.objects.filter(pk__in=[c.pk for c in customers[::2]]).update(
        created_date=at("2024-05-05T05:05:05"), version=BUMPED
    )
    lines.store_missing(Customer)  # every stored line the record's again, as `omnitron store_lines` leaves them
    return customers


def expected_order(sort: str) -> list[int]:
    """The order asked, computed here: each key in turn, NULLs as the greatest value (last ascending, first
    descending), the pk last."""
    rows = list(Customer.objects.all())
    terms = [term for term in sort.split(",") if term] + ["pk"]
    for term in reversed(terms):  # stable sorts, the last key first
        name = "pk" if term.lstrip("-") in ("pk", "id") else term.lstrip("-")
        rows.sort(
            key=lambda row, name=name: (getattr(row, name) is None, getattr(row, name) or 0),
            reverse=term.startswith("-"),
        )
    return [row.pk for row in rows]


SORTS = ["", "pk", "-pk", "-id", "date_joined", "-date_joined", "first_name,-date_joined", "-first_name,date_joined",
         "-created_date", "created_date,-first_name", "date_joined,first_name", "-date_joined,-first_name"]  # fmt: skip


@pytest.mark.parametrize("sort", SORTS)
def test_every_row_arrives_once_in_the_order_asked(api, sortable, batch_size, sort):
    pks = exported(api, {"sort": sort} if sort else {})
    assert pks == expected_order(sort)
    assert len(set(pks)) == len(sortable)


@pytest.mark.parametrize("sort", ["", "-pk", "first_name", "-created_date,email", "last_name,-first_name"])
def test_the_order_of_a_sort_without_nulls_is_the_lists(api, sortable, sort):
    params = {"sort": sort} if sort else {}
    assert exported(api, params) == listed(api, params)


def test_nulls_come_last_ascending_and_first_descending(api, sortable):
    ascending = [record["date_joined"] for record in jsonl(api, {"sort": "date_joined"})]
    descending = [record["date_joined"] for record in jsonl(api, {"sort": "-date_joined"})]
    assert ascending[-3:] == [None] * 3 and None not in ascending[:-3]
    assert descending[:3] == [None] * 3 and None not in descending[3:]


def test_each_batch_is_one_query_bounded_on_its_first_key(api, sortable, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(export, "BATCH_SIZE", 2)
    with CaptureQueriesContext(connection) as queries:
        exported(api, {"sort": "created_date"})
    batches = [q["sql"] for q in queries.captured_queries if 'FROM "customers_customer"' in q["sql"]]
    assert len(batches) == 5  # 9 rows: 4 full batches and the short one that ends it
    assert all("LIMIT 2" in sql and "OFFSET" not in sql for sql in batches)
    assert all('"customers_customer"."created_date" >= ' in sql for sql in batches[1:])


def test_a_nullable_first_key_is_bounded_in_both_of_its_parts(api, sortable, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(export, "BATCH_SIZE", 2)
    with CaptureQueriesContext(connection) as queries:
        exported(api, {"sort": "date_joined"})
    batches = [q["sql"] for q in queries.captured_queries if 'FROM "customers_customer"' in q["sql"]]
    values = [sql for sql in batches if '"date_joined" IS NOT NULL' in sql]
    nulls = [sql for sql in batches if '"date_joined" IS NULL' in sql]
    assert len(values) + len(nulls) == len(batches)
    assert all('"customers_customer"."date_joined" >= ' in sql for sql in values[1:])
    assert " OR " not in " ".join(nulls[:1])


def test_an_order_it_cannot_follow_ends_the_keys_and_the_pk_orders_the_rest():
    from django.db.models import F

    def keys(*ordering):
        return [(key.name, key.descending) for key in export.sort_keys(Customer.objects.order_by(*ordering))]

    assert keys() == keys("pk") == keys("-created_date", "pk")[1:] == [("id", False)]
    assert keys("-date_joined", "first_name") == [("date_joined", True), ("first_name", False), ("id", False)]
    assert keys("-id", "email") == [("id", True)]
    assert keys(F("email").desc(nulls_last=True)) == [("email", True), ("id", False)]
    assert keys("email", "channel__name", "first_name") == keys("email", "?") == [("email", False), ("id", False)]
    assert keys("channel") == [("id", False)]  # the channel's own ordering, which the export does not follow


# --- The list's filters -------------------------------------------------------------------------------------------


@pytest.fixture
def population(db):
    web, market = ChannelFactory(), ChannelFactory()
    people = [
        CustomerFactory(channel=web, email="Ayse.Yilmaz@example.com", first_name="Ayşe", erp_code="ERP-1",
                        phone_number="0555", email_allowed=True, gender="female", user_type="registered",
                        date_of_birth=dt.date(1990, 1, 1), date_joined=at("2024-01-02T10:00:00"),
                        attributes={"size": {"eu": 42}}, extra_field={"segment": "vip"}),
        CustomerFactory(channel=web, email="ali@example.com", first_name="Ali", erp_code="erp-2", sms_allowed=True,
                        gender="male", user_type="guest", date_of_birth=dt.date(1985, 6, 1),
                        date_joined=at("2024-01-03T23:59:59"), attributes={"size": {"eu": "42"}}),
        CustomerFactory(channel=market, email="ayla@example.org", first_name="Ayla", call_allowed=True,
                        date_of_birth=dt.date(2000, 1, 1), date_joined=None, attributes={"size": {"eu": 41}}),
        CustomerFactory(channel=None, email="zeynep@example.com", first_name="Zeynep", email_allowed=True,
                        date_joined=at("2024-02-01T00:00:00"), extra_field={"segment": "new"}),
    ]  # fmt: skip
    Customer.objects.filter(pk=people[1].pk).update(created_date=at("2023-01-01T00:00:00"), version=BUMPED)
    return {"web": web, "market": market, "people": people}


FILTERS = {
    "exact": lambda p: {"channel_code": p["people"][1].channel_code},
    "iexact": lambda p: {"email": "AYSE.yilmaz@EXAMPLE.com"},
    "iexact unicode": lambda p: {"first_name": "AYŞE"},
    "startswith": lambda p: {"email__startswith": "AY"},
    "contains": lambda p: {"erp_code": "erp"},
    "date-time range": lambda p: {"date_joined__gte": "2024-01-02T00:00:00Z", "date_joined__lt": "2024-02-01"},
    "date range of a date-time": lambda p: {"date_joined__date__gte": "2024-01-03",
                                            "date_joined__date__lte": "2024-02-01"},
    "created_date": lambda p: {"created_date__lt": "2023-06-01T00:00:00Z"},
    "date": lambda p: {"date_of_birth__lt": "1995-01-01"},
    "boolean true": lambda p: {"email_allowed": "true"},
    "boolean 0": lambda p: {"sms_allowed": "0"},
    "boolean and sort": lambda p: {"call_allowed": "false", "sort": "-first_name"},
    "pk__in": lambda p: {"pk__in": f"{p['people'][0].pk},{p['people'][2].pk},999999"},
    "channel": lambda p: {"channel": p["web"].pk},
    "choice": lambda p: {"gender": "female"},
    "json attribute": lambda p: {"attributes__size__eu": "42"},
    "json attribute string": lambda p: {"extra_field__segment": "vip"},
    "several": lambda p: {"email__startswith": "a", "channel": p["web"].pk, "attributes__size__eu": "42"},
}  # fmt: skip


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_applies_as_on_the_list(api, population, name):
    params = FILTERS[name](population)
    pks = exported(api, params)
    assert pks == listed(api, params)
    assert 0 < len(pks) < len(population["people"]), "a case that tells matches from misses"


def test_the_channel_scoped_route_exports_the_channels_customers(api, population):
    url = f"/api/v1/channel/{population['web'].pk}/customers/"
    assert exported(api, url=f"{url}export/") == listed(api, url=url) == [p.pk for p in population["people"][:2]]
    assert exported(api, {"first_name": "ali"}, url=f"{url}export/") == [population["people"][1].pk]
    assert api.get("/api/v1/channel/999999/customers/export/").status_code == 404


# --- Bad input, permissions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name", "code"),
    [
        ({"format": "xml"}, "format", "invalid_choice"),
        ({"format": "json"}, "format", "invalid_choice"),
        ({"detailed": "yes"}, "detailed", "invalid"),
        ({"detailed": "2"}, "detailed", "invalid"),
    ],
)
def test_a_bad_format_or_detailed_is_a_400_naming_it(api, db, params, name, code):
    response = api.get(EXPORT, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == [name, "code"] and body["code"] == code


@pytest.mark.parametrize(
    "params",
    [
        {"email_allowed": "maybe"},
        {"sort": "password"},
        {"sort": "-attributes"},
        {"created_date__gte": "yesterday"},
        {"date_of_birth": "1990-13-01"},
        {"pk__in": "1,x"},
        {"channel": "999999"},
        {"attributes__": "1"},
        {"email": "a\x00b"},
    ],
)
def test_a_bad_filter_is_the_lists_400(api, db, params):
    response = api.get(EXPORT, {**params, "format": "csv"})
    assert response.status_code == 400
    assert response.json() == api.get(CUSTOMERS, params).json()
    assert set(response.json()) - {"code"} <= set(params)


def test_accept_must_allow_json_or_an_export_format(api, db):
    assert api.get(EXPORT, {"format": "csv"}, HTTP_ACCEPT="text/csv").status_code == 200
    assert api.get(EXPORT, HTTP_ACCEPT="application/jsonl").status_code == 200
    assert api.get(EXPORT, HTTP_ACCEPT="application/json").status_code == 200
    response = api.get(EXPORT, HTTP_ACCEPT="application/xml")
    assert response.status_code == 406 and response.json()["code"] == "not_acceptable"


def test_a_token_is_needed(anon):
    response = anon.get(EXPORT)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_view_customer_is_needed(api_without_permissions):
    response = api_without_permissions.get(EXPORT)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_view_customer_is_enough(user_without_permissions):
    grant(user_without_permissions, "view_customer")
    CustomerFactory()
    assert len(jsonl(token_client(user_without_permissions))) == 1


def test_the_read_path_leaves_the_export_to_django():
    read_path = ReadPath(app=None)
    for path in (EXPORT, "/api/v1/channel/1/customers/export/"):
        match = resolve(path)
        assert match.func.actions["get"] == "export"
        assert read_path.action(match) is None


def test_the_schema_describes_the_export(anon):
    doc = anon.get("/api/schema/").json()
    for path in (EXPORT, "/api/v1/channel/{channel_id}/customers/export/"):
        operation = doc["paths"][path]["get"]
        parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
        assert parameters["format"]["schema"] == {"type": "string", "enum": ["csv", "jsonl"], "default": "jsonl"}
        assert parameters["detailed"]["schema"]["type"] == "boolean"
        assert {"email", "email__startswith", "sort", "pk__in", "channel", "attributes__some_key"} <= set(parameters)
        assert not {"page", "limit", "If-Match", "If-None-Match"} & set(parameters)
        assert set(operation["responses"]["200"]["content"]) == {"application/jsonl", "text/csv"}
        assert "ETag" not in operation["responses"]["200"].get("headers", {})
        assert operation["responses"]["400"]["content"]["application/json"]


# --- The command ----------------------------------------------------------------------------------------------


def test_the_command_writes_what_the_api_exports(api, population, tmp_path):
    for options, params in [
        ([], {}),
        (["--format", "csv", "email__startswith=a", "sort=-first_name"], {"format": "csv", "email__startswith": "a",
                                                                          "sort": "-first_name"}),
        (["--detailed", "attributes__size__eu=42"], {"detailed": "true", "attributes__size__eu": "42"}),
    ]:  # fmt: skip
        target = tmp_path / "out"
        call_command("export_customers", "--output", str(target), *options)
        assert target.read_bytes() == download(api, params)[1]


def test_the_command_writes_to_standard_output(api, population):
    out = io.StringIO()
    call_command("export_customers", f"channel={population['market'].pk}", stdout=out)
    assert [json.loads(line)["pk"] for line in out.getvalue().splitlines()] == [population["people"][2].pk]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["email_allowed=maybe"], "email_allowed: Enter true or false."),
        (["sort=password"], "sort: "),
        (["created_date__gte=yesterday"], "created_date__gte: "),
        (["emial=a@example.com"], "no such filter: emial"),
        (["email"], "'email': write a filter as FILTER=VALUE"),
        (["--detailed", "attributes__=1"], "attributes__: "),
    ],
)
def test_the_commands_errors_name_the_filter(db, arguments, message):
    with pytest.raises(CommandError) as error:
        call_command("export_customers", *arguments, stdout=io.StringIO())
    assert message in str(error.value)


# --- Memory --------------------------------------------------------------------------------------------------


def add_customers(count: int, start: int) -> None:
    Customer.objects.bulk_create(
        (
            Customer(email=f"bulk{n}@example.com", channel_code=f"bulk-{n}", first_name="Toplu", last_name=f"{n}",
                     attributes={"n": n, "size": {"eu": 40 + n % 8}}, extra_field={"segment": "bulk"},
                     date_joined=at("2024-01-01T00:00:00") + dt.timedelta(seconds=n), is_active=True)
            for n in range(start, start + count)
        ),
        batch_size=1000,
    )  # fmt: skip


def traced_export(client) -> tuple[int, int]:
    """The peak of memory Python allocated while the export was requested and read, and the export's size."""
    tracemalloc.start()
    try:
        response = client.get(EXPORT)
        size = sum(len(chunk) for chunk in response.streaming_content)
        return tracemalloc.get_traced_memory()[1], size
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_row_count(api, db, monkeypatch):
    monkeypatch.setattr(export, "BATCH_SIZE", 500)
    add_customers(10_000, 0)
    small, small_size = traced_export(api)
    add_customers(90_000, 10_000)
    large, large_size = traced_export(api)
    assert large_size > 9 * small_size
    # One batch is held at a time (its rows, records and bytes: 12 to 15 KB a customer at the peak, some 7 MB): ten
    # times the rows, the same peak, with room for the allocator's noise. Holding the rows would take over 1 GB.
    assert large < 1.5 * small + 1_000_000, (small, large)
    assert large < large_size / 4, (large, large_size)


# --- A client that goes away ------------------------------------------------------------------------------------

INTERRUPTED = 40_000  # customers: their export (~25 MB) is far more than the sockets' buffers hold
ADD_CUSTOMERS = f"""
from customers.models import Customer, CustomerLine
Customer.objects.bulk_create(
    (Customer(email=f"bulk{{n}}@example.com", channel_code=f"bulk-{{n}}", attributes={{"n": n}}, is_active=True)
     for n in range({INTERRUPTED})),
    batch_size=1000,
)
"""


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_a_client_that_goes_away_stops_the_export(tmp_path_factory, server):
    with (
        throwaway_database(tmp_path_factory) as database_url,
        start_server(database_url, tmp_path_factory.mktemp("export-server"), server=server) as live,
    ):
        subprocess.run(
            [*OMNITRON, "shell", "-c", ADD_CUSTOMERS], env=live.env, check=True, capture_output=True, timeout=300
        )
        conn = live.connection(timeout=30)
        started = time.monotonic()
        conn.request("GET", EXPORT, headers={"Authorization": f"Token {live.token}"})
        response = conn.getresponse()
        assert response.status == 200
        first = response.read(1000)
        assert first.startswith(b'{"pk":') and time.monotonic() - started < 5
        conn.sock.shutdown(2)
        conn.close()
        deadline = time.monotonic() + 20
        stopped = None
        while stopped is None and time.monotonic() < deadline:
            time.sleep(0.2)
            stopped = next((line for line in live.log.read_text().splitlines() if "export of customers" in line), None)
        assert stopped is not None, live.log.read_text()[-3000:]
        assert "stopped: the client went away" in stopped, stopped
        rows = int(stopped.split(" after ")[1].split(" rows")[0])
        assert rows < INTERRUPTED / 2, stopped
        if urlsplit(database_url).scheme.startswith("postgres"):
            import psycopg

            with psycopg.connect(database_url, autocommit=True) as pg:
                busy = pg.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state <> 'idle' AND pid <> pg_backend_pid()"
                ).fetchone()[0]
            assert busy == 0  # no query of the export is left running
        time.sleep(1)
        assert sum("export of customers" in line for line in live.log.read_text().splitlines()) == 1
