"""The orjson renderer (apicore.renderers) writes exactly what DRF's JSONRenderer writes, and every answer is the
renderer's bytes of DRF's own representation."""

import datetime
import json
from decimal import Decimal

import pytest
from rest_framework import renderers, serializers

from apicore import renderers as fast_renderers

UTC = datetime.UTC


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


def test_responses_are_drfs_bytes(api, rich):
    _answers(api, rich)


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
