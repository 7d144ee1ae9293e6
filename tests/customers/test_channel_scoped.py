"""`/api/v1/channel/{channel_id}/customers/`: the customer operations, scoped to one channel."""

import pytest

from customers.models import Customer
from tests.factories import ChannelFactory, CustomerFactory


@pytest.fixture
def channel(db):
    return ChannelFactory()


def scoped(channel, suffix: str = "") -> str:
    return f"/api/v1/channel/{channel.pk}/customers/{suffix}"


BODY = {"email": "a@example.com", "channel_code": "c-1", "is_active": True, "email_allowed": False,
        "sms_allowed": False, "call_allowed": False}  # fmt: skip


def test_list_shows_only_the_channels_customers(api, channel):
    mine = CustomerFactory(channel=channel)
    CustomerFactory(channel=ChannelFactory())
    CustomerFactory(channel=None)
    assert [row["pk"] for row in api.get(scoped(channel)).json()] == [mine.pk]


def test_filters_apply(api, channel):
    wanted = CustomerFactory(channel=channel, email="wanted@example.com")
    CustomerFactory(channel=channel, email="other@example.com")
    response = api.get(scoped(channel), {"email": "wanted@example.com", "channel": channel.pk})
    assert [row["pk"] for row in response.json()] == [wanted.pk]


def test_create_takes_the_channel_from_the_path(api, channel):
    other = ChannelFactory()
    response = api.post(scoped(channel), {**BODY, "channel": other.pk}, format="json")
    assert response.status_code == 201
    assert response.json()["channel"] == channel.pk
    assert Customer.objects.get().channel == channel


def test_create_without_consent_flags_defaults_them_to_false(api, channel):
    body = {"email": "b@example.com", "channel_code": "c-2", "is_active": True}
    response = api.post(scoped(channel), body, format="json")
    assert response.status_code == 201, response.json()
    created = Customer.objects.get(pk=response.json()["pk"])
    assert (created.email_allowed, created.sms_allowed, created.call_allowed) == (False, False, False)
    assert created.channel == channel


def test_put_without_consent_flags_keeps_the_stored_ones(api, channel):
    customer = CustomerFactory(channel=channel, email_allowed=True, sms_allowed=True, call_allowed=False)
    body = {"email": "c@example.com", "channel_code": customer.channel_code, "is_active": True}
    assert api.put(scoped(channel, f"{customer.pk}/"), body, format="json").status_code == 200
    customer.refresh_from_db()
    assert (customer.email, customer.email_allowed, customer.sms_allowed, customer.call_allowed) == (
        "c@example.com", True, True, False,
    )  # fmt: skip


def test_channel_code_is_unique_in_the_paths_channel(api, channel):
    CustomerFactory(channel=channel, channel_code="c-1")
    response = api.post(scoped(channel), BODY, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unique"


def test_retrieve_update_delete(api, channel):
    customer = CustomerFactory(channel=channel)
    url = scoped(channel, f"{customer.pk}/")
    assert api.get(url).json()["pk"] == customer.pk
    patched = api.patch(url, {"first_name": "Ayşe"}, format="json")
    assert patched.json()["first_name"] == "Ayşe" and patched.json()["channel"] == channel.pk
    assert Customer.objects.get(pk=customer.pk).first_name == "Ayşe"

    # PUT stores the body's fields, in the path's channel whatever the body names.
    put = api.put(url, {**BODY, "channel": ChannelFactory().pk}, format="json")
    assert put.status_code == 200
    assert Customer.objects.values(*BODY, "channel").get(pk=customer.pk) == {**BODY, "channel": channel.pk}

    assert api.delete(url).status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()


def test_detailed_views(api, channel):
    customer = CustomerFactory(channel=channel)
    assert api.get(scoped(channel, f"{customer.pk}/detailed/")).json()["channel"]["id"] == channel.pk
    assert [row["pk"] for row in api.get(scoped(channel, "detailed/")).json()] == [customer.pk]


def test_a_customer_of_another_channel_is_404(api, channel):
    stranger = CustomerFactory(channel=ChannelFactory(), first_name="Stranger")
    assert api.get(scoped(channel, f"{stranger.pk}/")).status_code == 404
    assert api.patch(scoped(channel, f"{stranger.pk}/"), {"first_name": "x"}, format="json").status_code == 404
    assert api.put(scoped(channel, f"{stranger.pk}/"), BODY, format="json").status_code == 404
    assert api.delete(scoped(channel, f"{stranger.pk}/")).status_code == 404
    assert Customer.objects.values_list("first_name", "email", "channel").get(pk=stranger.pk) == (
        "Stranger", stranger.email, stranger.channel_id,
    )  # fmt: skip


def test_unknown_channel_is_404(api):
    assert api.get("/api/v1/channel/424242/customers/").status_code == 404
    assert api.post("/api/v1/channel/424242/customers/", BODY, format="json").status_code == 404
    assert not Customer.objects.exists()


def test_paginated_format(api, channel, settings):
    settings.OMNITRON_LIST_FORMAT = "paginated"
    CustomerFactory.create_batch(3, channel=channel)
    body = api.get(scoped(channel), {"limit": 2}).json()
    assert body["count"] == 3 and f"/api/v1/channel/{channel.pk}/customers/" in body["next"]
