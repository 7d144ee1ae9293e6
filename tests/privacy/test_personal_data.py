"""GET /api/v1/customers/{id}/personal-data/: everything held about one customer in one document."""

import pytest
from django.contrib.auth.models import Permission

from tests.conftest import grant, token_client
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db


def test_the_document_holds_the_record_its_orders_refunds_history_and_events(api):
    customer = api.post(
        "/api/v1/customers/", {"email": "ada@example.com", "channel_code": "c-1", "is_active": True}, format="json"
    ).json()
    api.patch(f"/api/v1/customers/{customer['pk']}/", {"first_name": "Ada"}, format="json")
    order = OrderFactory(customer_id=customer["pk"], amount="100.00")
    refund = api.post(f"/api/v1/orders/{order.pk}/refunds/", {"amount": "5.00"}, format="json").json()
    other = OrderFactory(customer=CustomerFactory(email="someone@example.com"))

    response = api.get(f"/api/v1/customers/{customer['pk']}/personal-data/")
    assert response.status_code == 200
    document = response.json()
    assert document["customer"] == api.get(f"/api/v1/customers/{customer['pk']}/").json()
    assert document["orders"] == [api.get(f"/api/v1/orders/{order.pk}/").json()]
    assert document["refunds"] == [refund]
    history = document["history"]
    assert [e["operation"] for e in history["customer"]] == ["updated", "created"]
    assert history["customer"][0]["changes"] == {"first_name": {"old": "", "new": "Ada"}}
    assert {e["operation"] for e in history["orders"]} == {"created"}
    assert [e["operation"] for e in history["refunds"]] == ["created"]
    types = [event["type"] for event in document["events"]]
    assert types == ["customer.created", "customer.updated", "order.created", "refund.created", "order.updated"]
    assert all(event["record_id"] != other.pk or not event["type"].startswith("order.") for event in document["events"])


def test_another_customers_data_is_not_in_it(api):
    mine, theirs = CustomerFactory(email="me@example.com"), CustomerFactory(email="them@example.com")
    OrderFactory(customer=theirs)
    document = api.get(f"/api/v1/customers/{mine.pk}/personal-data/").json()
    assert document["orders"] == [] and document["refunds"] == []
    assert {event["record_id"] for event in document["events"]} == {mine.pk}


def test_it_needs_view_permissions_on_customers_orders_and_refunds(user_without_permissions):
    customer = CustomerFactory()
    grant(user_without_permissions, "view_customer", "view_order")
    client = token_client(user_without_permissions)
    assert client.get(f"/api/v1/customers/{customer.pk}/personal-data/").status_code == 403
    user_without_permissions.user_permissions.add(Permission.objects.get(codename="view_refund"))
    assert (
        token_client(user_without_permissions).get(f"/api/v1/customers/{customer.pk}/personal-data/").status_code == 200
    )


def test_an_unknown_customer_is_404(api):
    assert api.get("/api/v1/customers/999999/personal-data/").status_code == 404
    assert api.get("/api/v1/customers/abc/personal-data/").status_code == 404
