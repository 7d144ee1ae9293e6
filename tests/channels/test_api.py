import pytest

from channels.models import Channel
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory

CHANNELS = "/api/v1/channels/"


def detail(pk) -> str:
    return f"{CHANNELS}{pk}/"


@pytest.fixture
def payload() -> dict:
    return {
        "name": "Web shop",
        "catalog": 3,
        "channel_type": "web",
        "conf": {"url": "https://shop.example.com"},
        "category_tree": "12",
        "is_active": True,
        "schema": {"size": {"key": "size", "label": "Size", "required": False, "data_type": "text"}},
    }


def test_create_returns_every_field_with_id_and_pk(api, payload):
    response = api.post(CHANNELS, payload, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == body["pk"] == Channel.objects.get().pk
    assert {k: body[k] for k in payload} == payload
    assert body["created_date"] and body["modified_date"]


@pytest.mark.parametrize("missing", ["name", "catalog", "channel_type", "conf", "is_active"])
def test_create_without_a_required_field_is_400(api, payload, missing):
    del payload[missing]
    response = api.post(CHANNELS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "required"
    assert missing in response.json()


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("channel_type", "myspace", "invalid_choice"),
        ("conf", {"n": 1}, "not_a_string"),
        ("conf", ["x"], "not_an_object"),
        ("schema", "text", "not_an_object"),
        ("catalog", "abc", "invalid"),
        ("catalog", 2**40, "max_value"),
        ("name", "n" * 256, "max_length"),
        ("name", "a\x00b", "null_characters_not_allowed"),
    ],
)
def test_create_with_an_invalid_value_is_400(api, payload, field, value, code):
    payload[field] = value
    response = api.post(CHANNELS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()


def test_schema_may_be_null(api, payload):
    payload["schema"] = None
    assert api.post(CHANNELS, payload, format="json").json()["schema"] is None


def test_retrieve_put_patch(api, payload):
    channel = ChannelFactory()
    assert api.get(detail(channel.pk)).json()["name"] == channel.name
    assert api.put(detail(channel.pk), payload, format="json").json()["name"] == "Web shop"
    assert api.patch(detail(channel.pk), {"is_active": False}, format="json").json()["is_active"] is False
    channel.refresh_from_db()
    assert (channel.name, channel.is_active) == ("Web shop", False)


def test_unknown_channel_is_404(api):
    assert api.get(detail(424242)).status_code == 404


def test_delete_is_204(api):
    channel = ChannelFactory()
    assert api.delete(detail(channel.pk)).status_code == 204
    assert not Channel.objects.exists()


@pytest.mark.parametrize("dependant", ["customer", "order"])
def test_channel_with_customers_or_orders_cannot_be_deleted(api, dependant):
    channel = ChannelFactory()
    if dependant == "customer":
        CustomerFactory(channel=channel)
    else:
        OrderFactory(channel=channel, customer=CustomerFactory(channel=None))
    response = api.delete(detail(channel.pk))
    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert Channel.objects.filter(pk=channel.pk).exists()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["pk"] for row in response.json()]


def test_filters(api):
    web = ChannelFactory(name="Main Web Shop", channel_type="web", is_active=True)
    market = ChannelFactory(name="Marketplace", channel_type="trendyol", is_active=False)
    store = ChannelFactory(name="Store", channel_type="web", is_active=True)
    assert ids(api.get(CHANNELS, {"name": "web"})) == [web.pk]
    assert ids(api.get(CHANNELS, {"channel_type": "trendyol"})) == [market.pk]
    assert ids(api.get(CHANNELS, {"is_active": "false"})) == [market.pk]
    assert ids(api.get(CHANNELS, {"pk__in": f"{store.pk},{web.pk}"})) == [web.pk, store.pk]
    assert ids(api.get(CHANNELS, {"sort": "-name"})) == [store.pk, market.pk, web.pk]
    assert ids(api.get(CHANNELS, {"name": "WEB", "is_active": "false"})) == []


@pytest.mark.parametrize(
    ("param", "value"), [("channel_type", "x"), ("is_active", "maybe"), ("pk__in", "a"), ("sort", "conf")]
)
def test_invalid_filter_value_is_400_naming_it(api, param, value):
    response = api.get(CHANNELS, {param: value})
    assert response.status_code == 400
    assert param in response.json()


def test_list_pagination_and_format(api, settings):
    ChannelFactory.create_batch(12)
    response = api.get(CHANNELS, {"limit": 5})
    assert len(response.json()) == 5 and response["X-Total-Count"] == "12"
    settings.OMNITRON_LIST_FORMAT = "paginated"
    body = api.get(CHANNELS, {"limit": 5, "page": 3}).json()
    assert body["count"] == 12 and len(body["results"]) == 2 and body["next"] is None


def test_channels_require_a_token(anon):
    assert anon.get(CHANNELS).status_code == 401
