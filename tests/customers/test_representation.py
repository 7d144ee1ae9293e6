"""The lean representation (apicore.serializers.ModelSerializer) and the orjson renderer (apicore.renderers) answer
exactly what DRF's own Serializer.to_representation and JSONRenderer would: same bytes, same ETags."""

import contextlib
import datetime
import json
from decimal import Decimal
from functools import cached_property

import pytest
from django.utils import timezone
from rest_framework import renderers, serializers

from apicore import renderers as fast_renderers
from apicore.serializers import METHOD, ModelSerializer, _representation_plan
from apicore.serializers import NESTED as NESTED_RECORD
from channels.serializers import ChannelSerializer
from customers.models import Customer
from customers.serializers import ChannelCustomerSerializer, CustomerDetailedSerializer, CustomerSerializer
from orders.serializers import OrderSerializer, RefundSerializer
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory

NESTED = {"ürün": {"beden": {"eu": 42, "us": "9½"}}, "liste": [1, 2.5, None, True, {"k": ["ş", "ğ"]}], "boş": {}}
UTC = datetime.UTC


@pytest.fixture
def drf_representation(monkeypatch):
    """Switches the lean representation off: every serializer answers through DRF's Serializer.to_representation."""
    monkeypatch.setattr(ModelSerializer, "to_representation", serializers.ModelSerializer.to_representation)


@pytest.fixture
def rich(db):
    """Customers with every field set (unicode, nested JSON, odd numbers), with every nullable field null, and with
    orders and refunds, in a channel with every field set and without one."""
    channel = ChannelFactory(
        name="Mağaza “Web” \u2028 şube",
        catalog=2**31 - 1,
        channel_type="trendyol",
        conf={"anahtar": "değer", "url": "https://example.com/ç"},
        category_tree="Kök > Giyim",
        is_active=False,
        schema={"type": "object", "properties": NESTED},
    )
    full = CustomerFactory(
        channel=channel,
        email="çağla.şükrü@example.com",
        first_name="Çağla İpek",
        last_name="Öztürk-Şahin 🙂",
        phone_number="+90 555 000 00 00",
        is_active=True,
        erp_code="ERP/ğ-1",
        attributes={**NESTED, "tiny": 1e-05, "huge": 1.5e300, "big": 2**70, "neg": -0.0, "line": "a\u2029b\x01"},
        attribute_kwargs={"a": 1},
        localized_attributes={"tr": {"ad": "Ahmet"}, "en": {"name": "Ahmed"}},
        localized_attribute_kwargs={"b": [None]},
        extra_field={"sadakat": "altin ğ", "puan": 12.75},
        email_allowed=True,
        sms_allowed=True,
        call_allowed=True,
        date_joined=datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        gender="female",
        user_type="registered",
        date_of_birth=datetime.date(1990, 5, 17),
    )
    empty = CustomerFactory(
        channel=None,
        first_name="",
        last_name="",
        phone_number=None,
        is_active=False,
        erp_code=None,
        date_joined=None,
        gender=None,
        user_type=None,
        date_of_birth=None,
    )
    blank_choice = CustomerFactory(
        channel=channel, gender="", user_type="", date_joined=datetime.datetime(1, 1, 1, tzinfo=UTC)
    )
    first = OrderFactory(customer=full, channel=channel, amount=Decimal("250.10"), discount_amount=Decimal("20.05"))
    OrderFactory(customer=full, channel=channel, amount=Decimal("0.01"))
    RefundFactory(order=first, amount=Decimal("10.00"))
    RefundFactory(order=first, amount=Decimal("0.03"))
    return {"channel": channel, "customers": [full, empty, blank_choice], "order": first}


def _answers(api, rich) -> dict[str, tuple]:
    full = rich["customers"][0]
    paths = [
        "/api/v1/customers/?limit=10",
        "/api/v1/customers/?email__startswith=%C3%A7a",
        "/api/v1/customers/detailed/?limit=10",
        f"/api/v1/channel/{rich['channel'].pk}/customers/",
        f"/api/v1/channel/{rich['channel'].pk}/customers/detailed/",
        f"/api/v1/channels/{rich['channel'].pk}/",
        f"/api/v1/orders/{rich['order'].pk}/",
        "/api/v1/orders/",
    ]
    for customer in rich["customers"]:
        paths += [f"/api/v1/customers/{customer.pk}/", f"/api/v1/customers/{customer.pk}/detailed/"]
    answers = {}
    for path in paths:
        response = api.get(path)
        assert response.status_code == 200, (path, response.content)
        assert response.content == renderers.JSONRenderer().render(response.data)
        answers[path] = (response.content, response.get("ETag"), response.get("X-Total-Count"))
    assert json.loads(answers[f"/api/v1/customers/{full.pk}/"][0])["attributes"]["big"] == 2**70
    return answers


def test_responses_are_byte_for_byte_drfs(api, rich, monkeypatch):
    lean = _answers(api, rich)
    monkeypatch.setattr(ModelSerializer, "to_representation", serializers.ModelSerializer.to_representation)
    assert _answers(api, rich) == lean


@pytest.mark.parametrize(
    "serializer_class",
    [CustomerSerializer, ChannelCustomerSerializer, CustomerDetailedSerializer, ChannelSerializer, OrderSerializer,
     RefundSerializer],
)  # fmt: skip
def test_every_record_is_represented_as_drf_does(rich, serializer_class, monkeypatch):
    model = serializer_class.Meta.model
    records = list(model.objects.all())
    # An instance as a caller might build it, values not yet of their column's type: DRF's conversions still apply.
    if model is Customer:
        records.append(Customer(pk=7, email="x@example.com", is_active=1, channel_code=12, date_joined=None))
        records.append(Customer.objects.defer("first_name", "created_date", "channel").get(pk=records[0].pk))
    # In another time zone than the default, as DRF's DateTimeField answers when one is activated.
    for zone in (None, "Europe/Istanbul"):
        with timezone.override(zone) if zone else contextlib.nullcontext():
            lean = [serializer_class(record).data for record in records]
            lean_many = serializer_class(records, many=True).data
            with monkeypatch.context() as patched:
                patched.setattr(ModelSerializer, "to_representation", serializers.ModelSerializer.to_representation)
                drf = [serializer_class(record).data for record in records]
        for mine, theirs in zip([*lean, *lean_many], [*drf, *drf], strict=True):
            assert list(mine.items()) == list(theirs.items())
            assert [type(value) for value in mine.values()] == [type(value) for value in theirs.values()]
            assert renderers.JSONRenderer().render(mine) == renderers.JSONRenderer().render(theirs)
    if model is Customer:  # the zone was applied: the same instant, written with Istanbul's offset
        assert lean[0]["date_joined"].endswith("+03:00")


def test_a_list_looks_up_the_time_zone_once(rich, monkeypatch):
    customers = list(Customer.objects.all())
    lookups = []
    real = timezone.get_current_timezone
    monkeypatch.setattr(timezone, "get_current_timezone", lambda: lookups.append(1) or real())
    data = CustomerSerializer(customers, many=True).data
    assert len(data) == len(customers) > 1
    assert len(lookups) == 1


def test_plain_columns_skip_drfs_field_machinery():
    # Nothing goes through DRF's generic path (an order's refunded total is a column too).
    def generic(serializer_class):
        return [name for name, attname, _, _ in _representation_plan(serializer_class()) if attname is None]

    assert generic(CustomerSerializer) == []
    assert generic(ChannelSerializer) == []
    assert generic(CustomerDetailedSerializer) == []
    assert generic(OrderSerializer) == []
    kinds = {name: kind for name, _, kind, _ in _representation_plan(CustomerDetailedSerializer())}
    assert (kinds["channel"], kinds["orders_info"]) == (NESTED_RECORD, METHOD)


def test_a_detailed_list_builds_no_serializer_fields(api, rich, monkeypatch):
    # DRF builds a serializer's fields anew for every request, most of a short page's time; the plan is per class.
    api.get("/api/v1/customers/detailed/?limit=10")
    built = []
    real = serializers.Serializer.fields.func

    def fields(serializer):
        built.append(type(serializer).__name__)
        return real(serializer)

    counted = cached_property(fields)
    counted.__set_name__(serializers.Serializer, "fields")
    monkeypatch.setattr(serializers.Serializer, "fields", counted)
    assert CustomerDetailedSerializer().fields and built == ["CustomerDetailedSerializer"]  # counting works
    built.clear()
    response = api.get("/api/v1/customers/detailed/?limit=10")
    assert response.status_code == 200
    assert len(response.json()) == 3 and response.json()[0]["orders_info"]["total_order_count"] == 2
    assert built == []


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        [],
        {"a": [1, "ş", None, True, False, {"b": {}}], "": ""},
        {"s": '\u2028\u2029\x00\x1f\x7f"\\/ 🙂 \ud7ff'},
        {"floats": [0.0, -0.0, 0.1, 1e-4, 1e-05, 5e-324, 1e-07, 123.456, 1e16, 1.5e300, 12.5, 2.0**53]},
        {"ints": [0, -1, 2**63 - 1, -(2**63), 2**64, -(2**70)]},
        {"decimals": [Decimal("0.00"), Decimal("12.50"), Decimal("0.00001"), Decimal("-3")]},
        {
            "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            "naive": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "offset": datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone(datetime.timedelta(hours=3))),
            "date": datetime.date(2024, 1, 2),
            "time": datetime.time(3, 4, 5, 123456),
            "delta": datetime.timedelta(days=1, seconds=1.5),
        },
        {1: "int key", None: "null key", False: "bool key", 2.5: "float key"},
        {"set": {1}, "tuple": (1, 2), "bytes": b"abc", "frozenset": frozenset("a")},
        {"lazy": serializers.ValidationError("x").detail},
        {"deep": json.loads("[" * 300 + "]" * 300)},
    ],
    ids=lambda data: "-".join(map(str, data)) if isinstance(data, dict) else repr(data),
)
def test_renderer_writes_drfs_bytes(data):
    assert fast_renderers.JSONRenderer().render(data) == renderers.JSONRenderer().render(data)


@pytest.mark.parametrize("media_type", ["application/json; indent=4", "application/json; indent=0"])
def test_renderer_indents_as_drf_does(media_type):
    data = {"a": [1, {"b": "ç"}]}
    assert fast_renderers.JSONRenderer().render(data, media_type) == renderers.JSONRenderer().render(data, media_type)


def test_renderer_fails_as_drf_does():
    for renderer in (fast_renderers.JSONRenderer(), renderers.JSONRenderer()):
        with pytest.raises(TypeError):
            renderer.render({"object": object()})
