from io import StringIO

import pytest
from django.core.management import call_command
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Sum

from channels.models import Channel
from customers.models import Customer
from orders.models import Order, Refund

pytestmark = pytest.mark.django_db


# What seed 5 gives, whichever the database: the first customer, and its first order's (customer offset, amount,
# date placed). A deliberate change to the generators changes them.
GOLDEN_CUSTOMER = (
    "liam.kaya1@example.com",
    "2019-02-10 19:17:15.647350+00:00",
    {"age": 36, "size": {"eu": 37}, "color": "grey", "newsletter": False},
)
GOLDEN_ORDER = (0, "2356.23", "2024-01-22 16:25:48.027156+00:00")


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
    # Each order's stored total of refunds is the sum of the refunds loaded for it.
    refunded = Order.objects.annotate(summed=Sum("refunds__amount")).values_list("refunded_amount", "summed")
    assert all(stored == (summed or 0) for stored, summed in refunded)
    assert any(stored for stored, _ in refunded)


def test_a_seed_gives_the_same_data_on_every_database():
    # The suite runs on SQLite and on PostgreSQL: both must read back the same values.
    seed_demo(customers=20, orders_per_customer=1, channels=2, seed=5)
    first = Customer.objects.order_by("pk").first()
    order = Order.objects.order_by("pk").first()
    assert (first.email, str(first.created_date), first.attributes) == GOLDEN_CUSTOMER
    assert (order.customer_id - first.pk, str(order.amount), str(order.date_placed)) == GOLDEN_ORDER


def test_customers_creation_dates_grow_with_their_ids_over_the_years():
    seed_demo(customers=200, orders_per_customer=0, channels=2, seed=3)
    dates = list(Customer.objects.order_by("pk").values_list("created_date", flat=True))
    assert dates == sorted(dates)
    assert (dates[0].year, dates[-1].year) == (2019, 2025)


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


def test_is_varied():
    seed_demo(customers=400, orders_per_customer=3, channels=3, seed=2)
    customers = Customer.objects.all()

    def distinct(queryset, field: str) -> int:
        return queryset.values(field).distinct().count()

    assert distinct(customers, "first_name") > 20 and distinct(customers, "last_name") > 15
    assert len({email.split("@")[1] for email in customers.values_list("email", flat=True)}) > 3
    assert distinct(customers, "date_of_birth") > 300 and distinct(customers, "created_date") == 400
    for nullable in ("phone_number", "erp_code", "date_joined", "gender", "channel"):
        assert customers.filter(**{nullable: None}).exists() and customers.exclude(**{nullable: None}).exists()
    for flag in ("is_active", "email_allowed", "sms_allowed", "call_allowed"):
        assert distinct(customers, flag) == 2
    assert distinct(customers, "user_type") == 2 and distinct(customers, "gender") == 3
    for key in ("segment", "source", "score"):
        assert distinct(customers, f"extra_field__{key}") > 3
    assert distinct(customers, "attributes__color") > 3 and distinct(customers, "localized_attributes__tr__city") > 5
    assert customers.filter(attributes__has_key="newsletter").exists()
    assert customers.exclude(attributes__has_key="newsletter").exists()

    orders = Order.objects.all()
    assert distinct(orders, "status") > 10 and distinct(orders, "currency") == 3
    assert orders.filter(discount_amount=0).exists() and orders.filter(discount_amount__gt=0).exists()
    assert distinct(orders, "shipping_amount") == 3
    per_customer = orders.values("customer").annotate(n=Count("pk")).values_list("n", flat=True)
    assert min(per_customer) < 3 < max(per_customer) and orders.values("customer").distinct().count() < 400
    assert Order.objects.annotate(n=Count("refunds")).filter(n=2).exists()
    assert Order.objects.annotate(n=Count("refunds")).filter(n=1).exists()


def test_new_rows_get_fresh_ids_and_constraints_hold():
    seed_demo(customers=30, orders_per_customer=2, channels=2, seed=4)
    seeded = {model: model.objects.order_by("-pk").first().pk for model in (Channel, Customer, Order, Refund)}
    channel = Channel.objects.create(name="new", catalog=1, channel_type="web")
    customer = Customer.objects.create(channel=channel, channel_code="new", email="new@example.com")
    order = Order.objects.create(
        number="new", channel=channel, customer=customer, date_placed="2025-01-01T00:00:00Z", currency="TRY", amount=1
    )
    refund = Refund.objects.create(order=order, amount=1)
    for row in (channel, customer, order, refund):
        assert row.pk > seeded[type(row)]
    # the unique constraints dropped for the load on PostgreSQL are back
    taken = Customer.objects.exclude(channel=None).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(channel=taken.channel, channel_code=taken.channel_code, email="x@example.com")


def test_postgresql_indexes_and_constraints_are_rebuilt_as_they_were():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps its indexes during the load")

    def schema() -> list:
        tables = [m._meta.db_table for m in (Channel, Customer, Order, Refund)]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = ANY(%s) UNION ALL "
                "SELECT pg_get_constraintdef(oid) || convalidated::text FROM pg_constraint "
                "WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1",
                [tables, tables],
            )
            return cursor.fetchall()

    before = schema()
    seed_demo(customers=10, orders_per_customer=1, channels=1, seed=1)
    assert schema() == before and len(before) > 30


def test_seeding_again_adds_to_what_is_there():
    seed_demo(customers=20, orders_per_customer=1, channels=2, seed=1)
    seed_demo(customers=20, orders_per_customer=1, channels=2, seed=1)
    assert (Channel.objects.count(), Customer.objects.count(), Order.objects.count()) == (4, 40, 40)
    assert Customer.objects.values("email").distinct().count() == 40


def test_if_empty_skips_a_loaded_database():
    seed_demo(customers=10, orders_per_customer=1, channels=1, seed=1)
    assert "nothing loaded" in seed_demo(customers=10, channels=1, seed=1, if_empty=True)
    assert Customer.objects.count() == 10


def test_zero_orders():
    output = seed_demo(customers=10, orders_per_customer=0, channels=1, seed=1)
    assert Customer.objects.count() == 10 and not Order.objects.exists()
    # Refunds belong to orders: none can be loaded, and the summary says what was loaded.
    assert not Refund.objects.exists()
    assert "10 customers, 0 orders, 0 refunds" in output
