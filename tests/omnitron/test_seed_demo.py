from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.validators import validate_email
from django.db.models import F, Sum

from channels.models import Channel
from customers.models import Customer
from orders.models import Order, Refund

pytestmark = pytest.mark.django_db


def seed_demo(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def snapshot() -> list:
    return [
        list(Customer.objects.order_by("pk").values_list("email", "channel_id", "attributes", "created_date")),
        list(Order.objects.order_by("pk").values_list("customer_id", "amount", "status", "date_placed")),
        list(Refund.objects.order_by("pk").values_list("order_id", "amount")),
    ]


def test_loads_the_requested_amounts(api):
    output = seed_demo(customers=300, orders_per_customer=2, channels=3, seed=7)
    assert "300 customers" in output
    assert (Channel.objects.count(), Customer.objects.count(), Order.objects.count()) == (3, 300, 600)
    assert Refund.objects.exists()


def test_is_deterministic_for_a_seed():
    seed_demo(customers=50, orders_per_customer=3, channels=2, seed=11)
    first = snapshot()
    for model in (Refund, Order, Customer, Channel):
        model.objects.all().delete()
    seed_demo(customers=50, orders_per_customer=3, channels=2, seed=11)
    assert snapshot() == first


def test_data_obeys_the_apis_rules(api):
    seed_demo(customers=200, orders_per_customer=3, channels=4, seed=3)
    for customer in Customer.objects.all():
        validate_email(customer.email)
    # orders stay in their customer's channel; refunds never exceed their order
    assert not Order.objects.exclude(customer__channel=None).exclude(channel=F("customer__channel")).exists()
    over = Order.objects.annotate(refunded=Sum("refunds__amount")).filter(refunded__gt=F("amount"))
    assert not over.exists()
    assert not Order.objects.filter(discount_amount__gt=F("amount")).exists()
    # the varied values the filters work on are there
    assert Customer.objects.filter(phone_number=None).exists() and Customer.objects.exclude(phone_number=None).exists()
    assert Customer.objects.values("extra_field__segment").distinct().count() > 1
    # every seeded customer reads back through the API, and new ones get fresh ids
    first = Customer.objects.order_by("pk").first()
    assert api.get(f"/api/v1/customers/{first.pk}/detailed/").status_code == 200
    body = {"email": "new@example.com", "channel_code": "new", "is_active": True, "email_allowed": False,
            "sms_allowed": False, "call_allowed": False}  # fmt: skip
    response = api.post("/api/v1/customers/", body, format="json")
    assert response.status_code == 201
    assert response.json()["pk"] > Customer.objects.exclude(email="new@example.com").order_by("-pk").first().pk


def test_if_empty_skips_a_loaded_database():
    seed_demo(customers=10, orders_per_customer=1, channels=1, seed=1)
    assert "nothing loaded" in seed_demo(customers=10, channels=1, seed=1, if_empty=True)
    assert Customer.objects.count() == 10


def test_zero_orders():
    seed_demo(customers=10, orders_per_customer=0, channels=1, seed=1)
    assert Customer.objects.count() == 10 and not Order.objects.exists()
    assert Decimal(0) == (Order.objects.aggregate(total=Sum("amount"))["total"] or Decimal(0))
