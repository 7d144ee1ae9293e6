"""/api/v1/webhooks/: the URL rules, the event types, the secret answered once, deliveries and redelivery, the
permissions."""

import pytest
from django.contrib.auth.models import Permission

from tests.conftest import grant, token_client
from tests.factories import CustomerFactory
from webhooks import services
from webhooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/omnitron"


def test_the_secret_is_answered_on_creation_only(api):
    created = api.post("/api/v1/webhooks/", {"url": URL, "description": "ERP"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == ["*"] and body["is_active"] is True and body["description"] == "ERP"
    assert body["failing_since"] is None and body["disabled_reason"] == ""
    assert Webhook.objects.get(pk=body["id"]).secret == body["secret"]
    assert "secret" not in api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in api.get("/api/v1/webhooks/").json()[0]
    patched = api.patch(f"/api/v1/webhooks/{body['id']}/", {"description": "CRM"}, format="json")
    assert patched.status_code == 200 and "secret" not in patched.json()


def test_rotating_the_secret_answers_the_new_one_and_signs_with_it(api):
    webhook = api.post("/api/v1/webhooks/", {"url": URL}, format="json").json()
    rotated = api.post(f"/api/v1/webhooks/{webhook['id']}/rotate-secret/")
    assert rotated.status_code == 200
    secret = rotated.json()["secret"]
    assert secret != webhook["secret"] and Webhook.objects.get(pk=webhook["id"]).secret == secret
    header = services.signature(secret, 1700000000, b"{}")
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "Enter a valid URL."),
        ("hooks.example.com/x", "Enter a valid URL."),
        ("ftp://hooks.example.com/x", "Only https:// URLs are accepted."),
        ("http://hooks.example.com/x", "OMNITRON_WEBHOOK_HTTP_HOSTS"),
        ("https://169.254.169.254/latest/meta-data/", "link-local, metadata or unspecified"),
        ("https://[fe80::1]/x", "link-local, metadata or unspecified"),
        ("https://0.0.0.0/x", "link-local, metadata or unspecified"),
        ("https://[::]/x", "link-local, metadata or unspecified"),
        ("https://[::ffff:169.254.169.254]/x", "link-local, metadata or unspecified"),
        ("https://[fd00:ec2::254]/x", "link-local, metadata or unspecified"),
        ("https://metadata.google.internal/computeMetadata/v1/", "cloud metadata service"),
        ("https://hooks.example.com/" + "x" * 2000, "no more than 2000 characters"),
    ],
)
def test_a_url_the_worker_may_not_post_to_is_refused_naming_url(api, url, problem):
    response = api.post("/api/v1/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400
    (message,) = response.json()["url"]
    assert problem in message
    assert not Webhook.objects.exists()


def test_http_goes_to_the_listed_hosts_only_and_never_to_forbidden_addresses(api, settings):
    settings.OMNITRON_WEBHOOK_HTTP_HOSTS = ["127.0.0.1", "169.254.169.254"]
    assert api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9000/x"}, format="json").status_code == 201
    refused = api.post("/api/v1/webhooks/", {"url": "http://169.254.169.254/x"}, format="json")
    assert refused.status_code == 400 and "link-local" in refused.json()["url"][0]
    assert api.post("/api/v1/webhooks/", {"url": "http://localhost:9000/x"}, format="json").status_code == 400


def test_an_update_is_checked_as_a_creation(api):
    webhook = api.post("/api/v1/webhooks/", {"url": URL}, format="json").json()
    response = api.patch(f"/api/v1/webhooks/{webhook['id']}/", {"url": "http://example.com/"}, format="json")
    assert response.status_code == 400 and "url" in response.json()
    assert Webhook.objects.get(pk=webhook["id"]).url == URL


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        (["customer.renamed"], "Unknown event type 'customer.renamed'"),
        ([], "Name at least one event type"),
        ("customer.created", "Expected a list of items"),
        ([""], "This field may not be blank."),
    ],
)
def test_an_events_filter_naming_no_known_type_is_refused(api, events, problem):
    response = api.post("/api/v1/webhooks/", {"url": URL, "events": events}, format="json")
    assert response.status_code == 400
    assert problem in str(response.json()["events"])


def test_events_are_kept_as_named_once_each(api):
    body = {"url": URL, "events": ["order.created", "customer.updated", "order.created"]}
    assert api.post("/api/v1/webhooks/", body, format="json").json()["events"] == ["order.created", "customer.updated"]
    body = {"url": URL, "events": ["order.created", "*"]}
    assert api.post("/api/v1/webhooks/", body, format="json").json()["events"] == ["*"]


def test_event_types_of_models_the_user_may_not_view_are_refused(user_without_permissions):
    grant(user_without_permissions, "view_customer")
    user_without_permissions.user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
    client = token_client(user_without_permissions)
    body = {"url": URL, "events": ["customer.created"]}
    assert client.post("/api/v1/webhooks/", body, format="json").status_code == 201
    assert client.post("/api/v1/webhooks/", {**body, "events": ["order.created"]}, format="json").status_code == 403
    assert client.post("/api/v1/webhooks/", {**body, "events": ["*"]}, format="json").status_code == 403


def test_webhooks_need_their_own_permissions(user_without_permissions):
    client = token_client(user_without_permissions)
    assert client.get("/api/v1/webhooks/").status_code == 403
    assert client.post("/api/v1/webhooks/", {"url": URL}, format="json").status_code == 403
    user_without_permissions.user_permissions.add(Permission.objects.get(codename="view_webhook"))
    webhook = Webhook.objects.create(url=URL, events=["*"])
    client = token_client(user_without_permissions)
    assert client.get("/api/v1/webhooks/").status_code == 200
    assert client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries/").status_code == 200
    assert client.post(f"/api/v1/webhooks/{webhook.pk}/rotate-secret/").status_code == 403
    assert Webhook.objects.get(pk=webhook.pk).secret == webhook.secret


def queued(webhook: Webhook) -> Delivery:
    """A delivery of the webhook's next event, queued as the worker queues it."""
    (delivery,) = services.queue(webhook, 1, "test-worker", *[services.timezone.now()] * 2)
    return delivery


# On PostgreSQL the worker queues events of ended transactions only (the feed's rule): these tests commit.
@pytest.mark.django_db(transaction=True)
def test_deliveries_are_listed_newest_first_and_filtered(api):
    webhook = Webhook.objects.create(url=URL, events=["*"])
    CustomerFactory(), CustomerFactory()
    first, second = queued(webhook), queued(webhook)
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.SUCCEEDED)
    listed = api.get(f"/api/v1/webhooks/{webhook.pk}/deliveries/").json()
    assert [d["id"] for d in listed] == [second.pk, first.pk]
    assert listed[0]["event_type"] == "customer.created" and listed[0]["attempts"] == []
    succeeded = api.get(f"/api/v1/webhooks/{webhook.pk}/deliveries/?status=succeeded").json()
    assert [d["id"] for d in succeeded] == [first.pk]
    assert api.get(f"/api/v1/webhooks/{webhook.pk}/deliveries/?event_type=order.created").json() == []
    bad = api.get(f"/api/v1/webhooks/{webhook.pk}/deliveries/?status=lost")
    assert bad.status_code == 400 and "status" in bad.json()
    assert api.get("/api/v1/webhooks/999999/deliveries/").status_code == 404
    assert api.get("/api/v1/webhooks/abc/deliveries/").status_code == 404
    assert api.post("/api/v1/webhooks/abc/deliveries/1/redeliver/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_redeliver_queues_one_more_attempt_now(api):
    webhook = Webhook.objects.create(url=URL, events=["*"])
    CustomerFactory()
    delivery = queued(webhook)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.FAILED)
    response = api.post(f"/api/v1/webhooks/{webhook.pk}/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.PENDING and delivery.lease_expires is None and delivery.claim == ""
    other = Webhook.objects.create(url=URL, events=["*"])
    assert api.post(f"/api/v1/webhooks/{other.pk}/deliveries/{delivery.pk}/redeliver/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_webhook_made_active_again_starts_from_now_with_its_failures_forgotten(api):
    webhook = api.post("/api/v1/webhooks/", {"url": URL}, format="json").json()
    Webhook.objects.filter(pk=webhook["id"]).update(
        is_active=False, failing_since=services.timezone.now(), disabled_reason="Disabled: failing"
    )
    CustomerFactory()  # while it was inactive
    reactivated = api.patch(f"/api/v1/webhooks/{webhook['id']}/", {"is_active": True}, format="json").json()
    assert reactivated["is_active"] is True and reactivated["failing_since"] is None
    assert reactivated["disabled_reason"] == ""
    assert services.queue(Webhook.objects.get(pk=webhook["id"]), 10, "w", *[services.timezone.now()] * 2) == []
