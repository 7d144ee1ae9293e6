"""Conditional requests (RFC 9110 §13): strong ETags, If-None-Match (304) and If-Match (412) on every record."""

import hashlib
import re
import threading

import pytest
from django.db import connection, connections
from django.db.models import F

from channels.models import Channel
from customers.models import Customer
from customers.serializers import CustomerSerializer
from orders.models import Order
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory


@pytest.fixture
def customer(db):
    return CustomerFactory(channel=ChannelFactory(), extra_field={"count": 0})


def customer_url(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/"


# Every single-record read, and the URL that writes it (None: read-only).
READS = {
    "customer": lambda c: (f"/api/v1/customers/{c.pk}/", f"/api/v1/customers/{c.pk}/"),
    "customer detailed": lambda c: (f"/api/v1/customers/{c.pk}/detailed/", None),
    "channel customer": lambda c: (
        f"/api/v1/channel/{c.channel_id}/customers/{c.pk}/",
        f"/api/v1/channel/{c.channel_id}/customers/{c.pk}/",
    ),
    "channel": lambda c: (f"/api/v1/channels/{c.channel_id}/", f"/api/v1/channels/{c.channel_id}/"),
    "order": lambda c: (f"/api/v1/orders/{OrderFactory(customer=c).pk}/",) * 2,
}
# A PATCH body each resource accepts.
PATCHES = {"customers": {"first_name": "Changed"}, "channels": {"name": "Changed"}, "orders": {"status": "400"}}


def patch_body(url: str) -> dict:
    return next(body for resource, body in PATCHES.items() if f"/{resource}/" in url)


def current_tag(api, url: str) -> str:
    response = api.get(url)
    assert response.status_code == 200, response.content
    return response["ETag"]


def assert_unchanged(model, pk, before):
    row = model.objects.get(pk=pk)
    assert (row.version, row.modified_date) == (before.version, before.modified_date)


# --- ETag on reads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", READS)
def test_every_record_read_has_a_strong_etag(api, customer, name):
    url, _ = READS[name](customer)
    response = api.get(url)
    assert response.status_code == 200
    tag = response["ETag"]
    # docs/decisions.md: strong (no W/), quoted, the first 128 bits of the SHA-256 of the body it comes with.
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert tag == f'"{hashlib.sha256(response.content).hexdigest()[:32]}"'
    assert api.get(url)["ETag"] == tag  # stable while nothing changes
    assert api.head(url)["ETag"] == tag


@pytest.mark.parametrize("name", READS)
def test_two_records_have_different_etags(api, customer, name):
    other = CustomerFactory(channel=ChannelFactory(), extra_field={"count": 0})
    assert current_tag(api, READS[name](customer)[0]) != current_tag(api, READS[name](other)[0])


def test_lists_carry_no_etag(api, customer):
    assert "ETag" not in api.get("/api/v1/customers/")


@pytest.mark.parametrize("name", [name for name in READS if name != "customer detailed"])
def test_a_write_answers_the_new_etag_and_changes_it(api, customer, name):
    url, write_url = READS[name](customer)
    before = current_tag(api, url)
    response = api.patch(write_url, patch_body(write_url), format="json")
    assert response.status_code == 200
    assert response["ETag"] != before
    assert response["ETag"] == current_tag(api, url)


def test_put_answers_the_new_etag(api, customer):
    body = CustomerSerializer(customer).data | {"first_name": "Put"}
    response = api.put(customer_url(customer), body, format="json")
    assert response.status_code == 200
    assert response["ETag"] == current_tag(api, customer_url(customer))


def test_create_answers_the_etag_of_the_new_record(api):
    body = {"name": "Web", "catalog": 1, "channel_type": "web", "conf": {}, "is_active": True}
    response = api.post("/api/v1/channels/", body, format="json")
    assert response.status_code == 201
    assert response["ETag"] == current_tag(api, f"/api/v1/channels/{response.json()['pk']}/")


def test_the_channel_scoped_record_has_the_same_etag(api, customer):
    scoped = f"/api/v1/channel/{customer.channel_id}/customers/{customer.pk}/"
    assert current_tag(api, scoped) == current_tag(api, customer_url(customer))


def test_a_refund_changes_the_orders_etag(api, customer):
    order = OrderFactory(customer=customer)
    url = f"/api/v1/orders/{order.pk}/"
    before = current_tag(api, url)
    assert api.post(f"{url}refunds/", {"amount": "10.00"}, format="json").status_code == 201
    assert current_tag(api, url) != before  # refunded_amount changed
    response = api.patch(url, {"status": "400"}, format="json", HTTP_IF_MATCH=before)
    assert response.status_code == 412


def test_the_detailed_etag_follows_the_customers_orders_and_channel(api, customer):
    url = f"/api/v1/customers/{customer.pk}/detailed/"
    first = current_tag(api, url)
    OrderFactory(customer=customer)
    second = current_tag(api, url)
    assert second != first  # orders_info changed
    Channel.objects.filter(pk=customer.channel_id).update(name="Renamed")
    assert current_tag(api, url) != second  # the embedded channel changed


# --- If-None-Match on reads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", READS)
def test_if_none_match_with_the_current_etag_is_304(api, customer, name):
    url, _ = READS[name](customer)
    tag = current_tag(api, url)
    response = api.get(url, HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == tag
    assert "Content-Type" not in response


@pytest.mark.parametrize(
    "header",
    ["{tag}", "W/{tag}", '"other", {tag}', '"other",{tag} , "more"', "*", ", {tag},"],
    ids=["same", "weak", "listed", "listed-spaces", "any", "empty-members"],
)
def test_if_none_match_uses_weak_comparison_over_a_list(api, customer, header):
    tag = current_tag(api, customer_url(customer))
    assert api.get(customer_url(customer), HTTP_IF_NONE_MATCH=header.format(tag=tag)).status_code == 304


def test_if_none_match_with_another_etag_is_200(api, customer):
    response = api.get(customer_url(customer), HTTP_IF_NONE_MATCH='"stale", W/"older"')
    assert response.status_code == 200
    assert response.json()["pk"] == customer.pk


def test_head_with_if_none_match_is_304(api, customer):
    tag = current_tag(api, customer_url(customer))
    assert api.head(customer_url(customer), HTTP_IF_NONE_MATCH=tag).status_code == 304


def test_after_a_write_the_old_etag_no_longer_gives_304(api, customer):
    tag = current_tag(api, customer_url(customer))
    api.patch(customer_url(customer), {"first_name": "New"}, format="json")
    assert api.get(customer_url(customer), HTTP_IF_NONE_MATCH=tag).status_code == 200


def test_if_match_on_a_read(api, customer):
    tag = current_tag(api, customer_url(customer))
    assert api.get(customer_url(customer), HTTP_IF_MATCH=tag).status_code == 200
    response = api.get(customer_url(customer), HTTP_IF_MATCH='"stale"')
    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"


# --- If-Match on writes --------------------------------------------------------------------------------------


WRITES = {
    "customer PATCH": ("patch", lambda c: customer_url(c), Customer),
    "customer PUT": ("put", lambda c: customer_url(c), Customer),
    "customer DELETE": ("delete", lambda c: customer_url(c), Customer),
    "channel customer PATCH": ("patch", lambda c: f"/api/v1/channel/{c.channel_id}/customers/{c.pk}/", Customer),
    "channel PATCH": ("patch", lambda c: f"/api/v1/channels/{c.channel_id}/", Channel),
    "channel DELETE": ("delete", lambda c: f"/api/v1/channels/{ChannelFactory().pk}/", Channel),
    "order PATCH": ("patch", lambda c: f"/api/v1/orders/{OrderFactory(customer=c).pk}/", Order),
}


def write(api, method: str, url: str, **headers):
    if method == "delete":
        return api.delete(url, **headers)
    if method == "put":
        body = CustomerSerializer(Customer.objects.get(pk=url.rstrip("/").rsplit("/", 1)[1])).data
        return api.put(url, body | {"first_name": "Put"}, format="json", **headers)
    return api.patch(url, patch_body(url), format="json", **headers)


def record_of(model, url: str):
    return model.objects.get(pk=int(url.rstrip("/").rsplit("/", 1)[1]))


@pytest.mark.parametrize("name", WRITES)
def test_a_stale_if_match_is_412_and_changes_nothing(api, customer, name):
    method, make_url, model = WRITES[name]
    url = make_url(customer)
    stale = current_tag(api, url)
    api.patch(url, patch_body(url) if "/orders/" in url else {"is_active": False}, format="json")  # someone else
    before = record_of(model, url)

    response = write(api, method, url, HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert response.json() == {
        "detail": "The resource has changed since that ETag was issued; read it again and retry with the new ETag.",
        "code": "precondition_failed",
    }
    assert_unchanged(model, before.pk, before)


@pytest.mark.parametrize("name", WRITES)
def test_the_current_if_match_succeeds(api, customer, name):
    method, make_url, model = WRITES[name]
    url = make_url(customer)
    response = write(api, method, url, HTTP_IF_MATCH=current_tag(api, url))
    assert response.status_code == (204 if method == "delete" else 200), response.content
    if method == "delete":
        assert not model.objects.filter(pk=int(url.rstrip("/").rsplit("/", 1)[1])).exists()
    else:
        assert response["ETag"] == current_tag(api, url)


@pytest.mark.parametrize("name", WRITES)
def test_if_match_any_succeeds_on_an_existing_record(api, customer, name):
    method, make_url, _ = WRITES[name]
    assert write(api, method, make_url(customer), HTTP_IF_MATCH="*").status_code in (200, 204)


@pytest.mark.parametrize("name", WRITES)
def test_without_preconditions_writes_work_as_before(api, customer, name):
    method, make_url, _ = WRITES[name]
    url = make_url(customer)
    api.patch(url, patch_body(url) if "/orders/" in url else {"is_active": False}, format="json")  # someone else
    assert write(api, method, url).status_code in (200, 204)


def test_if_match_may_list_several_etags(api, customer):
    tag = current_tag(api, customer_url(customer))
    response = api.patch(customer_url(customer), {"first_name": "A"}, format="json", HTTP_IF_MATCH=f'"old", {tag}')
    assert response.status_code == 200


def test_if_match_uses_strong_comparison(api, customer):
    tag = current_tag(api, customer_url(customer))
    response = api.patch(customer_url(customer), {"first_name": "A"}, format="json", HTTP_IF_MATCH=f"W/{tag}")
    assert response.status_code == 412


@pytest.mark.parametrize("header", ["abc", '"unterminated', '"a" "b"', ",", "W/", '"a";b'])
def test_a_malformed_if_match_is_400_and_changes_nothing(api, customer, header):
    response = api.patch(customer_url(customer), {"first_name": "A"}, format="json", HTTP_IF_MATCH=header)
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "If-Match" in response.json()["detail"]
    assert_unchanged(Customer, customer.pk, customer)


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_a_malformed_if_none_match_is_400_even_beside_a_failing_if_match(api, customer, method):
    response = getattr(api, method)(
        customer_url(customer), {"first_name": "A"}, format="json", HTTP_IF_MATCH='"stale"', HTTP_IF_NONE_MATCH=""
    )
    assert response.status_code == 400
    assert "If-None-Match" in response.json()["detail"]
    assert_unchanged(Customer, customer.pk, customer)


def test_if_none_match_on_a_write(api, customer):
    tag = current_tag(api, customer_url(customer))
    # `*`: only if no record exists, which it does; the current ETag: only if it changed, which it did not.
    for header in ("*", tag):
        response = api.patch(customer_url(customer), {"first_name": "A"}, format="json", HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 412
    assert_unchanged(Customer, customer.pk, customer)
    response = api.patch(customer_url(customer), {"first_name": "A"}, format="json", HTTP_IF_NONE_MATCH='"other"')
    assert response.status_code == 200


def test_preconditions_come_before_the_body_is_validated(api, customer):
    response = api.patch(customer_url(customer), {"email": "not an email"}, format="json", HTTP_IF_MATCH='"stale"')
    assert response.status_code == 412
    tag = current_tag(api, customer_url(customer))
    response = api.patch(customer_url(customer), {"email": "not an email"}, format="json", HTTP_IF_MATCH=tag)
    assert response.status_code == 400


def test_a_missing_record_is_404_whatever_the_precondition(api):
    assert api.patch("/api/v1/customers/999999/", {}, format="json", HTTP_IF_MATCH="*").status_code == 404
    assert api.delete("/api/v1/customers/999999/", HTTP_IF_MATCH='"x"').status_code == 404


def test_orders_are_still_never_deleted_or_replaced(api, customer):
    url = f"/api/v1/orders/{OrderFactory(customer=customer).pk}/"
    tag = current_tag(api, url)
    assert api.delete(url, HTTP_IF_MATCH=tag).status_code == 405
    assert api.put(url, {}, format="json", HTTP_IF_MATCH=tag).status_code == 405


def test_a_protected_delete_with_the_current_etag_is_still_400(api, customer):
    OrderFactory(customer=customer)
    response = api.delete(customer_url(customer), HTTP_IF_MATCH=current_tag(api, customer_url(customer)))
    assert response.status_code == 400
    assert response.json()["code"] == "protected"
    assert_unchanged(Customer, customer.pk, customer)


# --- the decision is the database's --------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent write transactions: PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("if_match", [True, False], ids=["If-Match", "unconditional"])
def test_a_writer_coming_between_a_writes_read_and_its_save_waits_for_it(api, customer, monkeypatch, if_match):
    """The PATCH reads its record locked in its transaction: another writer that comes after that read waits until
    the PATCH has committed, then writes. The precondition, the save and the history entry all saw the row as it was,
    and neither write is lost. (SQLite's write transactions are exclusive: the other writer cannot start at all.)"""
    url = customer_url(customer)
    headers = {"HTTP_IF_MATCH": current_tag(api, url)} if if_match else {}
    other = {}
    original = CustomerSerializer.validate

    def other_writer():
        try:
            Customer.objects.filter(pk=customer.pk).update(first_name="Concurrent", version=F("version") + 1)
        finally:
            connections.close_all()  # this thread's own

    def validate(self, attrs):  # after the PATCH's read, before its save
        other["thread"] = thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(0.5)
        other["waited"] = thread.is_alive()
        return original(self, attrs)

    monkeypatch.setattr(CustomerSerializer, "validate", validate)
    response = api.patch(url, {"last_name": "Mine"}, format="json", **headers)
    other["thread"].join(10)

    assert response.status_code == 200, response.content
    assert other["waited"] and not other["thread"].is_alive()
    row = Customer.objects.get(pk=customer.pk)
    assert (row.first_name, row.last_name, row.version) == ("Concurrent", "Mine", customer.version + 2)
    entry = Customer.history.filter(id=customer.pk, history_type="~").get()
    assert entry.changes == {"last_name": {"old": customer.last_name, "new": "Mine"}}


# --- versions --------------------------------------------------------------------------------------------------


def test_every_save_bumps_the_version_in_the_database(customer):
    stale = Customer.objects.get(pk=customer.pk)
    customer.first_name = "One"
    customer.save()
    stale.last_name = "Two"
    stale.save()  # an instance read before the first save still counts as a new version
    customer.save(update_fields=["first_name"])
    assert Customer.objects.get(pk=customer.pk).version == customer.version + 3
