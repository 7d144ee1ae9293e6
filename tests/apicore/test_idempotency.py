"""`Idempotency-Key` on POST: one execution per user and key, replayed to retries for 24 hours."""

import datetime
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.exceptions import APIException
from rest_framework.test import APIClient

from apicore.idempotency import ABANDONED_AFTER, TTL, fingerprint
from apicore.models import IdempotencyKey
from channels.models import Channel
from channels.views import ChannelViewSet
from customers.models import Customer
from orders.models import Order, Refund
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory

CHANNELS = "/api/v1/channels/"
CHANNEL = {"name": "Web", "catalog": 1, "channel_type": "web", "conf": {}, "is_active": True}


def post(client, path: str, body: dict, key: str | None = "key-1"):
    """POST `body` as these exact bytes, so a test can compute the request's fingerprint."""
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.generic("POST", path, json.dumps(body), content_type="application/json", **headers)


def claim_of(path: str, body: dict) -> str:
    return fingerprint("POST", path, json.dumps(body).encode())


CUSTOMER = {
    "email": "retry@example.com", "channel_code": "retry-1", "is_active": True,
    "email_allowed": False, "sms_allowed": False, "call_allowed": False,
}  # fmt: skip


def _channel_customers():
    channel = ChannelFactory()
    return f"/api/v1/channel/{channel.pk}/customers/", CUSTOMER, Customer.objects.filter(channel=channel).count


def _orders():
    customer = CustomerFactory(channel=ChannelFactory())
    body = {"number": "ORD-RETRY", "channel": customer.channel_id, "customer": customer.pk,
            "date_placed": "2024-05-01T10:00:00Z", "currency": "TRY", "amount": "250.00"}  # fmt: skip
    return "/api/v1/orders/", body, Order.objects.count


def _refunds():
    order = OrderFactory()
    return f"/api/v1/orders/{order.pk}/refunds/", {"amount": "10.00", "reason": "damaged"}, order.refunds.count


# Every POST that creates something: its path, a body that succeeds, and how to count what it created.
CREATES = {
    "customers": lambda: ("/api/v1/customers/", CUSTOMER, Customer.objects.count),
    "channel customers": _channel_customers,
    "channels": lambda: (CHANNELS, CHANNEL, Channel.objects.count),
    "orders": _orders,
    "refunds": _refunds,
}


@pytest.fixture
def other_api(db) -> APIClient:
    """Another integration's user, with the same permissions as `api`'s."""
    user = get_user_model().objects.create_user("other-integrator", password="s3cret-pass")
    api_models = Permission.objects.filter(content_type__app_label__in=["channels", "customers", "orders"])
    user.user_permissions.add(*api_models)
    _, key = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- replays ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CREATES)
def test_a_retry_replays_the_first_answer_and_creates_nothing(api, name):
    path, body, count = CREATES[name]()
    first = post(api, path, body)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first

    retry = post(api, path, body)

    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert count() == 1


def test_the_replay_is_the_first_answer_even_after_the_record_changed(api):
    first = post(api, CHANNELS, CHANNEL)
    api.patch(f"{CHANNELS}{first.json()['pk']}/", {"name": "Renamed"}, format="json")
    retry = post(api, CHANNELS, CHANNEL)
    assert retry.json() == first.json()
    assert retry["ETag"] == first["ETag"]


def test_without_a_key_every_post_runs(api):
    assert post(api, CHANNELS, CHANNEL, key=None).status_code == 201
    assert post(api, CHANNELS, CHANNEL, key=None).status_code == 201
    assert Channel.objects.count() == 2
    assert not IdempotencyKey.objects.exists()


def test_a_validation_error_is_stored_and_replayed(api):
    bad = {**CHANNEL, "channel_type": "fax"}
    first = post(api, CHANNELS, bad)
    assert first.status_code == 400
    retry = post(api, CHANNELS, bad)
    assert retry.status_code == 400
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    # The corrected request is another request: it needs its own key.
    assert post(api, CHANNELS, CHANNEL).status_code == 422
    assert post(api, CHANNELS, CHANNEL, key="key-2").status_code == 201


def test_a_business_rule_refusal_is_replayed_too(api):
    order = OrderFactory()
    path = f"/api/v1/orders/{order.pk}/refunds/"
    first = post(api, path, {"amount": "500.00"})
    assert (first.status_code, first.json()["code"]) == (400, "max_value")
    assert "Idempotent-Replayed" not in first
    # Even once the refund would fit, the retry gets the first answer, byte for byte, not a new run.
    order.amount = 1000
    order.save()
    retry = post(api, path, {"amount": "500.00"})
    assert (retry.status_code, retry.content, retry["Content-Type"]) == (400, first.content, first["Content-Type"])
    assert retry["Idempotent-Replayed"] == "true"
    assert not Refund.objects.exists()


# --- conflicts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHANNELS, json.dumps({**CHANNEL, "name": "Other"})),
        (CHANNELS, json.dumps(CHANNEL, indent=2)),  # the same data in other bytes: the bytes are compared
        ("/api/v1/channels/?x=1", json.dumps(CHANNEL)),
        ("/api/v1/customers/", json.dumps(CHANNEL)),
    ],
    ids=["other body", "other bytes", "other query", "other path"],
)
def test_the_same_key_for_another_request_is_422(api, path, body):
    assert post(api, CHANNELS, CHANNEL).status_code == 201
    response = api.generic("POST", path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert response.status_code == 422
    assert response.json() == {
        "detail": "This Idempotency-Key was already used for a different request.",
        "code": "idempotency_key_reused",
    }
    assert Channel.objects.count() == 1


def test_a_retry_while_the_first_runs_is_409(api, user):
    IdempotencyKey.objects.create(user=user, key="key-1", fingerprint=claim_of(CHANNELS, CHANNEL))  # in flight

    response = post(api, CHANNELS, CHANNEL)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert response["Retry-After"] == "1"
    assert not Channel.objects.exists()
    assert IdempotencyKey.objects.get().status is None  # still the first request's


def test_another_request_while_the_first_runs_is_422(api, user):
    IdempotencyKey.objects.create(user=user, key="key-1", fingerprint=claim_of(CHANNELS, CHANNEL))
    assert post(api, CHANNELS, {**CHANNEL, "name": "Other"}).status_code == 422


def test_a_claim_abandoned_by_a_dead_server_is_taken_over(api, user):
    IdempotencyKey.objects.create(
        user=user,
        key="key-1",
        fingerprint=claim_of(CHANNELS, CHANNEL),
        created=timezone.now() - ABANDONED_AFTER - datetime.timedelta(seconds=5),
    )
    response = post(api, CHANNELS, CHANNEL)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert IdempotencyKey.objects.get().status == 201


def test_a_request_whose_claim_was_taken_over_rolls_back(api, monkeypatch):
    original = ChannelViewSet.perform_create

    def perform_create(self, serializer):
        original(self, serializer)
        IdempotencyKey.objects.all().delete()  # presumed abandoned and claimed by another request meanwhile

    monkeypatch.setattr(ChannelViewSet, "perform_create", perform_create)
    response = post(api, CHANNELS, CHANNEL)
    assert response.status_code == 409
    assert not Channel.objects.exists()


# --- per user, 24 hours ----------------------------------------------------------------------------------------


def test_keys_are_per_user(api, other_api):
    mine = post(api, CHANNELS, CHANNEL)
    theirs = post(other_api, CHANNELS, CHANNEL)
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["pk"] != mine.json()["pk"]
    assert post(other_api, CHANNELS, {**CHANNEL, "name": "Theirs"}, key="key-2").status_code == 201
    assert post(api, CHANNELS, CHANNEL, key="key-2").status_code == 201  # their key-2 is not mine
    assert Channel.objects.count() == 4


def test_an_expired_key_is_ignored_and_replaced(api, user):
    first = post(api, CHANNELS, CHANNEL)
    IdempotencyKey.objects.update(created=timezone.now() - TTL - datetime.timedelta(seconds=5))

    retry = post(api, CHANNELS, {**CHANNEL, "name": "A day later"})  # even another request may use it now

    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert retry.json()["pk"] != first.json()["pk"]
    assert IdempotencyKey.objects.get().created > timezone.now() - datetime.timedelta(minutes=1)


def test_a_key_younger_than_24_hours_is_kept(api):
    post(api, CHANNELS, CHANNEL)
    IdempotencyKey.objects.update(created=timezone.now() - TTL + datetime.timedelta(minutes=5))
    assert post(api, CHANNELS, CHANNEL)["Idempotent-Replayed"] == "true"


def test_purge_idempotency_keys_deletes_the_expired_ones(api, user, capsys):
    for key in ("old-1", "old-2", "fresh"):
        post(api, CHANNELS, CHANNEL, key=key)
    IdempotencyKey.objects.filter(key__startswith="old").update(created=timezone.now() - TTL - datetime.timedelta(1))

    call_command("purge_idempotency_keys")

    assert "Deleted 2 expired idempotency keys." in capsys.readouterr().out
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


# --- failures release the key ----------------------------------------------------------------------------------


def test_a_crash_releases_the_key_so_a_retry_runs(api, monkeypatch):
    original = ChannelViewSet.perform_create

    def crash(self, serializer):
        original(self, serializer)
        raise RuntimeError("the server failed after writing")

    monkeypatch.setattr(ChannelViewSet, "perform_create", crash)
    api.raise_request_exception = False
    assert post(api, CHANNELS, CHANNEL).status_code == 500
    assert not Channel.objects.exists()  # rolled back with the claim released
    assert not IdempotencyKey.objects.exists()

    monkeypatch.setattr(ChannelViewSet, "perform_create", original)
    response = post(api, CHANNELS, CHANNEL)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_a_conflict_is_not_stored(api, monkeypatch):
    class Busy(APIException):
        status_code = 409
        default_code = "conflict"

    def conflict(self, serializer):
        raise Busy()

    monkeypatch.setattr(ChannelViewSet, "perform_create", conflict)
    assert post(api, CHANNELS, CHANNEL).status_code == 409
    assert not IdempotencyKey.objects.exists()
    monkeypatch.undo()
    assert post(api, CHANNELS, CHANNEL).status_code == 201


# --- the header ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k" * 256, "", "naïve", "tab\tkey"])
def test_a_key_that_is_too_long_or_not_printable_ascii_is_400(api, key):
    response = post(api, CHANNELS, CHANNEL, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "Idempotency-Key" in response.json()
    assert not Channel.objects.exists()


def test_a_key_of_255_characters_is_accepted(api):
    assert post(api, CHANNELS, CHANNEL, key="k" * 255).status_code == 201
    assert post(api, CHANNELS, CHANNEL, key="k" * 255)["Idempotent-Replayed"] == "true"


def test_the_key_is_ignored_on_other_methods(api):
    channel = ChannelFactory()
    response = api.patch(f"{CHANNELS}{channel.pk}/", {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert response.status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_an_unauthenticated_post_claims_nothing(anon):
    assert post(anon, CHANNELS, CHANNEL).status_code == 401
    assert not IdempotencyKey.objects.exists()
