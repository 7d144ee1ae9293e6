"""apicore.compiled.Precompiled answers what its queryset answers, from SQL compiled once per database and number of
values: model instances with their selected related records, `.values()` rows through the same converters."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from apicore.compiled import Precompiled
from customers.models import Customer
from orders.models import Order
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory


def by_pk(pk):
    return Customer.objects.select_related("channel").filter(pk=pk[0])


@pytest.fixture
def compilations(monkeypatch):
    """How many times Django compiles a SELECT."""
    calls = []
    real = SQLCompiler.as_sql

    def as_sql(compiler, *args, **kwargs):
        calls.append(compiler.query.model)
        return real(compiler, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", as_sql)
    return calls


def test_records_are_the_querysets_own_with_their_related_records(db):
    customers = [CustomerFactory(channel=ChannelFactory()), CustomerFactory(channel=None)]
    compiled = Precompiled(by_pk)
    for customer in customers:
        [record] = compiled([customer.pk], using="default")
        expected = by_pk([customer.pk]).get()
        assert type(record) is Customer and record.pk == customer.pk
        assert {f.attname: getattr(record, f.attname) for f in Customer._meta.concrete_fields} == {
            f.attname: getattr(expected, f.attname) for f in Customer._meta.concrete_fields
        }
        with CaptureQueriesContext(connection) as queries:
            assert record.channel == expected.channel  # selected with the record: no query
        assert len(queries) == 0
    assert compiled([424242], using="default") == []


def test_the_sql_is_compiled_once_per_number_of_values(db, compilations):
    first, second = CustomerFactory(), CustomerFactory()
    compiled = Precompiled(lambda pks: Customer.objects.filter(pk__in=pks).order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        assert [c.pk for c in compiled([first.pk], using="default")] == [first.pk]
        assert [c.pk for c in compiled([second.pk], using="default")] == [second.pk]
        assert [c.pk for c in compiled([second.pk, first.pk], using="default")] == [first.pk, second.pk]
    assert len(compilations) == 2  # one per number of values
    # The statements are the ones Django itself sends for those querysets.
    compilations.clear()
    with CaptureQueriesContext(connection) as django:
        list(Customer.objects.filter(pk__in=[first.pk]).order_by("pk"))
        list(Customer.objects.filter(pk__in=[second.pk]).order_by("pk"))
        list(Customer.objects.filter(pk__in=[second.pk, first.pk]).order_by("pk"))
    assert [q["sql"] for q in queries] == [q["sql"] for q in django]


def test_each_columns_converters_are_worked_out_once_per_shape(db, monkeypatch):
    customers = [CustomerFactory(attributes={"n": n}) for n in range(3)]
    calls = []
    real = SQLCompiler.get_converters
    monkeypatch.setattr(SQLCompiler, "get_converters", lambda compiler, e: calls.append(1) or real(compiler, e))
    compiled = Precompiled(by_pk)
    for n, customer in enumerate(customers):
        [record] = compiled([customer.pk], using="default")
        assert record.attributes == {"n": n}  # the JSON column still read through its converter
    assert len(calls) == 1


def test_values_rows_go_through_the_same_converters(db):
    customer = CustomerFactory()
    order = OrderFactory(customer=customer, amount=Decimal("10.10"), discount_amount=Decimal("0.30"))
    RefundFactory(order=order, amount=Decimal("0.20"))
    OrderFactory(customer=customer, amount=Decimal("0.20"), discount_amount=Decimal("0.00"))

    def totals(ids):
        return Order.objects.filter(customer_id__in=ids).values("customer_id").annotate(total=Sum("amount"))

    compiled = Precompiled(totals)
    assert compiled([customer.pk], using="default") == list(totals([customer.pk]))
    [row] = compiled([customer.pk], using="default")
    assert row == {"customer_id": customer.pk, "total": Decimal("10.30")} and type(row["total"]) is Decimal
    info = Order.objects.totals_by_customer([customer.pk, 424242])
    assert info == {
        customer.pk: {
            "total_order_count": 2,
            "total_order_amount": Decimal("10.30"),
            "total_discount_amount": Decimal("0.30"),
            "total_refund_amount": Decimal("0.20"),
        }
    }


def test_strings_are_stood_in_for_too(user):
    instance, _ = AuthToken.objects.create(user=user)
    compiled = Precompiled(lambda key: AuthToken.objects.filter(token_key=key[0]).select_related("user"))
    [token] = compiled([instance.token_key], using="default")
    assert (token.pk, token.user.username) == (instance.pk, user.username)
    assert compiled(["0123456789abcde"], using="default") == []


def test_a_value_the_query_does_not_take_as_a_parameter_is_refused(db):
    with pytest.raises(ValueError, match="exactly one parameter"):
        Precompiled(lambda pk: Customer.objects.filter(pk=1))([5], using="default")


@pytest.mark.parametrize("value", [1.5, True, None, b"1"])
def test_only_integers_and_strings_can_vary(db, value):
    with pytest.raises(TypeError):
        Precompiled(lambda pk: Customer.objects.filter(pk=pk[0]))([value], using="default")
