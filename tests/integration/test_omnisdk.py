"""Compatibility with the public SDK, `omnisdk`, used the way the `channel-app` integration framework uses it.

Against the real server (`omnitron serve`) with OMNITRON_LIST_FORMAT=paginated: the SDK pages by following
`next` in a {"count", "next", "previous", "results"} body. It logs in with a username and password itself
(POST auth/login/), gets-or-creates customers through `channel/{channel_id}/customers/` by email and channel,
updates them with PATCH resending `channel` and `channel_code`, and checks tokens with GET active_user/.
"""

import weakref

import pytest
import requests
from omnisdk import api_endpoint
from omnisdk.base_client import BaseClient
from omnisdk.exceptions import ValidationError as SdkValidationError
from omnisdk.omnitron.client import OmnitronApiClient
from omnisdk.omnitron.endpoints import ChannelCustomerEndpoint, ChannelEndpoint
from omnisdk.omnitron.models import Channel, Customer

SERVER_ENV = {"OMNITRON_LIST_FORMAT": "paginated"}
REQUEST_TIMEOUT = 30  # seconds; the SDK itself sets none


class _NoBackoffSleep:
    """Stands in for the `time` module the SDK's backoff handler sleeps with (10 s, up to 10 tries)."""

    @staticmethod
    def sleep(seconds):
        raise AssertionError(
            "omnisdk would back off and retry: the server answered 5xx or did not answer (see the chained error)"
        )


@pytest.fixture(scope="module")
def client(integration_server, credentials):
    """An SDK client that logged in with username and password; every request bounded in time, no retry loop."""
    real_request = requests.Session.request

    def bounded_request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return real_request(self, method, url, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "request", bounded_request)
        patch.setattr(api_endpoint, "time", _NoBackoffSleep)
        client = OmnitronApiClient(f"{integration_server.url}/", credentials.username, credentials.password)
        yield client
        client.session.close()


@pytest.fixture
def sdk(client) -> OmnitronApiClient:
    # The SDK keeps one client per class name, the last one built, and endpoints bind to it when built:
    # a test that builds another client must not leave the next test's endpoints on it.
    BaseClient.instance["OmnitronApiClient"] = weakref.proxy(client)
    return client


def new_channel(name: str) -> int:
    return ChannelEndpoint().create(item=Channel(name=name, catalog=1, channel_type="web", conf={}, is_active=True)).pk


@pytest.fixture(scope="module")
def channels(client) -> tuple[int, int]:
    BaseClient.instance["OmnitronApiClient"] = weakref.proxy(client)
    return new_channel("SDK shop"), new_channel("SDK other shop")


def get_or_create_customer(channel_id: int, *, email: str, **fields) -> tuple[Customer, bool]:
    """channel-app's GetOrCreateCustomer: list by `email` and `channel`, else create in the channel."""
    customers = ChannelCustomerEndpoint(channel_id=channel_id).list(params={"email": email, "channel": channel_id})
    for customer in customers:
        assert customer.email == email, "Customer email filter incorrect"
    if customers:
        return customers[0], False
    # channel-app's own body: no consent flags (they default to false).
    item = Customer(channel=channel_id, email=email, extra_field={}, is_active=True, **fields)
    return ChannelCustomerEndpoint(channel_id=channel_id).create(item=item), True


def test_client_logged_in_with_username_and_password(sdk, credentials):
    assert sdk.token.startswith("Token ")
    assert sdk.session.headers["Authorization"] == sdk.token
    user = sdk.session.get(f"{sdk.base_url}active_user/", timeout=REQUEST_TIMEOUT).json()
    assert (user["pk"], user["username"]) == (credentials.pk, credentials.username)


def test_get_or_create_customer_twice_creates_once(sdk, channels):
    channel_id, other_id = channels
    fields = {"channel_code": "sdk-ada", "first_name": "Ada", "last_name": "Lovelace", "phone_number": "05550001122"}

    first, created = get_or_create_customer(channel_id, email="ada@example.com", **fields)
    assert created
    assert isinstance(first, Customer)
    assert (first.email, first.channel, first.channel_code, first.first_name) == (
        "ada@example.com", channel_id, "sdk-ada", "Ada",
    )  # fmt: skip

    again, created = get_or_create_customer(channel_id, email="ada@example.com", **fields)
    assert not created
    assert again.pk == first.pk

    # The same address in another channel is another customer.
    elsewhere, created = get_or_create_customer(other_id, email="ada@example.com", **fields)
    assert created
    assert elsewhere.pk != first.pk
    assert elsewhere.channel == other_id

    everyone = ChannelCustomerEndpoint(channel_id=channel_id).list(params={"email": "ada@example.com"})
    assert [customer.pk for customer in everyone] == [first.pk]


def test_update_resending_channel_and_channel_code(sdk, channels):
    channel_id, other_id = channels
    customer, _ = get_or_create_customer(channel_id, email="grace@example.com", channel_code="sdk-grace")

    # channel-app sends a fresh Customer with the found one's channel and channel_code plus what changed.
    change = Customer(channel=customer.channel, channel_code=customer.channel_code, first_name="Grace")
    change.last_name = "Hopper"
    updated = ChannelCustomerEndpoint(channel_id=channel_id).update(id=customer.pk, item=change)
    assert (updated.pk, updated.first_name, updated.last_name) == (customer.pk, "Grace", "Hopper")
    assert (updated.channel, updated.channel_code) == (channel_id, "sdk-grace")

    fetched = ChannelCustomerEndpoint(channel_id=channel_id).retrieve(id=customer.pk)
    assert (fetched.first_name, fetched.last_name, fetched.email) == ("Grace", "Hopper", "grace@example.com")

    # Another channel's route does not find it.
    with pytest.raises(requests.HTTPError) as missing:
        ChannelCustomerEndpoint(channel_id=other_id).retrieve(id=customer.pk)
    assert missing.value.response.status_code == 404


def test_iterating_every_page_sees_each_customer_of_the_channel_once(sdk):
    channel_id, neighbour_id = new_channel("SDK paging"), new_channel("SDK paging neighbour")
    mine = {get_or_create_customer(channel_id, email=f"page-{n}@example.com", channel_code=f"p-{n}")[0].pk
            for n in range(25)}  # fmt: skip
    theirs = {get_or_create_customer(neighbour_id, email=f"page-{n}@example.com", channel_code=f"p-{n}")[0].pk
              for n in range(3)}  # fmt: skip
    assert len(mine) == 25

    endpoint = ChannelCustomerEndpoint(channel_id=channel_id)
    pages = [endpoint.list(params={"limit": 10, "channel": channel_id})]
    for page in endpoint.iterator:  # the SDK's _List: follows `next`, page after page
        pages.append(page)
        assert len(pages) <= 5, "the SDK kept paging past the last page"

    assert [len(page) for page in pages] == [10, 10, 5]
    seen = [customer.pk for page in pages for customer in page]
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == mine
    assert not set(seen) & theirs
    assert {customer.channel for page in pages for customer in page} == {channel_id}


def test_validate_token(sdk, integration_server):
    assert sdk.validate_token(sdk.token) is True
    # The knox token the seed made, the way an integration passes a stored one: validated when the client is built.
    stored = OmnitronApiClient(f"{integration_server.url}/", None, None, token=f"Token {integration_server.token}")
    try:
        assert stored.token == f"Token {integration_server.token}"
        assert stored.session.headers["Authorization"] == stored.token
    finally:
        stored.session.close()

    try:
        with pytest.raises(SdkValidationError) as invalid:
            sdk.validate_token("Token not-a-real-token")
        assert "detail" in invalid.value.json
    finally:  # validate_token leaves the token it checked on the session
        sdk.session.headers["Authorization"] = sdk.token


def test_expired_token_is_replaced_by_logging_in_again(sdk):
    """On a 401 the SDK logs in again once and repeats the request."""
    channel_id = new_channel("SDK relogin")
    customer, _ = get_or_create_customer(channel_id, email="relogin@example.com", channel_code="sdk-relogin")
    sdk.session.headers["Authorization"] = "Token expired-or-revoked"
    customers = ChannelCustomerEndpoint(channel_id=channel_id).list(params={"limit": 1})
    assert [found.pk for found in customers] == [customer.pk]
    assert sdk.session.headers["Authorization"] == sdk.token != "Token expired-or-revoked"
