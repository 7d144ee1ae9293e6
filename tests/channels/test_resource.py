"""The standard cases (tests/resources.py) for /api/v1/channels/."""

import datetime as dt

from channels.filters import ChannelFilterSet
from channels.models import Channel
from tests.factories import ChannelFactory
from tests.resources import Route, RouteTests, ids_in, made, plain

UTC = dt.UTC


class Channels(Route):
    name = "channels"
    model = Channel
    operations = ("list", "create", "retrieve", "update", "partial_update", "destroy")
    filterset = ChannelFilterSet
    text_fields = {"name": 255, "category_tree": 255}
    json_fields = ("conf", "schema")
    read_only = {"id": 999999, "pk": 999999, "created_date": "2000-01-01T00:00:00Z",
                 "modified_date": "2000-01-01T00:00:00Z"}  # fmt: skip
    filters = {
        "name": plain("SHOP", [{"name": "Web shop"}, {"name": "shopping"}], {"name": "Marketplace"}),
        "channel_type": plain("trendyol", {"channel_type": "trendyol"}, {"channel_type": "web"}),
        "is_active": plain("false", {"is_active": False}, {"is_active": True}),
        "pk__in": ids_in,
    }
    sort_records = (
        {"name": "b", "created_date": dt.datetime(2024, 3, 1, tzinfo=UTC),
         "modified_date": dt.datetime(2024, 1, 1, tzinfo=UTC)},
        {"name": "c", "created_date": dt.datetime(2024, 1, 1, tzinfo=UTC),
         "modified_date": dt.datetime(2024, 3, 1, tzinfo=UTC)},
        {"name": "a", "created_date": dt.datetime(2024, 2, 1, tzinfo=UTC),
         "modified_date": dt.datetime(2024, 2, 1, tzinfo=UTC)},
    )  # fmt: skip

    def list_path(self, scope):
        return "/api/v1/channels/"

    def make(self, scope, **fields):
        return made(ChannelFactory, **fields)

    def create_body(self, scope):
        return {"name": "Web shop", "catalog": 3, "channel_type": "web", "conf": {"url": "https://shop.example.com"},
                "category_tree": "12", "is_active": True, "schema": {"size": {"key": "size"}}}  # fmt: skip

    def update_body(self, scope, record):
        return {"name": "Renamed", "catalog": 4, "channel_type": "n11", "conf": {"k": "v"}, "category_tree": "7",
                "is_active": False, "schema": None}  # fmt: skip

    def patch_body(self, scope, record):
        return {"name": "Patched"}


class TestChannels(RouteTests):
    route = Channels()
