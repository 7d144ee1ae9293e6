"""A record's lookup (DRF's get_object): the same record, the same 404s, the query string's filters applied."""

import pytest

from customers.models import Customer
from tests.factories import ChannelFactory, CustomerFactory

NOT_FOUND = {"detail": "No Customer matches the given query.", "code": "not_found"}


@pytest.mark.parametrize(
    ("pk", "body"),
    [
        ("424242", NOT_FOUND),
        ("0", NOT_FOUND),
        ("-1", NOT_FOUND),
        (str(2**63), NOT_FOUND),  # past bigint: the ORM matches nothing rather than asking the database
        ("99999999999999999999999", NOT_FOUND),
        ("abc", {"detail": "Not found.", "code": "not_found"}),  # DRF: an id the ORM cannot read finds nothing
        ("1e3", {"detail": "Not found.", "code": "not_found"}),
    ],
)
def test_a_missing_record_answers_drfs_404(api, pk, body):
    CustomerFactory()
    for suffix in ("", "detailed/"):
        response = api.get(f"/api/v1/customers/{pk}/{suffix}")
        assert (response.status_code, response.json()) == (404, body)
        assert api.patch(f"/api/v1/customers/{pk}/", {"first_name": "x"}, format="json").json() == body


def test_every_record_is_found_by_its_id(api):
    channel = ChannelFactory()
    customers = [CustomerFactory(channel=channel), CustomerFactory(channel=None), CustomerFactory(channel=channel)]
    own_channel = api.get(f"/api/v1/channels/{channel.pk}/").json()
    assert (own_channel["pk"], own_channel["name"]) == (channel.pk, channel.name)
    for customer in customers:
        assert api.get(f"/api/v1/customers/{customer.pk}/").json()["email"] == customer.email
        detailed = api.get(f"/api/v1/customers/{customer.pk}/detailed/").json()
        # The embedded channel is the one the channels endpoint answers for it.
        assert detailed["channel"] == (None if customer.channel is None else own_channel)
    # Written records are looked up the same way.
    response = api.patch(f"/api/v1/customers/{customers[1].pk}/", {"first_name": "Ayşe"}, format="json")
    assert response.status_code == 200
    assert Customer.objects.get(pk=customers[1].pk).first_name == "Ayşe"


def test_the_query_strings_filters_still_apply_to_a_record(api):
    customer = CustomerFactory(email="one@example.com")
    assert api.get(f"/api/v1/customers/{customer.pk}/?email=one@example.com").status_code == 200
    response = api.get(f"/api/v1/customers/{customer.pk}/?email=other@example.com")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_a_channels_route_looks_up_only_its_own_customers(api):
    channel, other = ChannelFactory(), ChannelFactory()
    mine, theirs = CustomerFactory(channel=channel), CustomerFactory(channel=other)
    assert api.get(f"/api/v1/channel/{channel.pk}/customers/{mine.pk}/").status_code == 200
    assert api.get(f"/api/v1/channel/{channel.pk}/customers/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/channel/{other.pk}/customers/{theirs.pk}/").status_code == 200
