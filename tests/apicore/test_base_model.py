"""apicore.models.BaseModel: a record read from the database is the one Django's Model.from_db builds, made without
Model.__init__ where that changes nothing, and by Django's way where it could."""

import pytest
from django.db import models
from django.db.models.signals import post_init

from customers.models import Customer
from orders.models import Order, Refund
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory

pytestmark = pytest.mark.django_db


def djangos(record: models.Model) -> models.Model:
    """`record`'s row built again by Django's own Model.from_db."""
    model = type(record)
    names = [field.attname for field in model._meta.concrete_fields]
    values = model._base_manager.filter(pk=record.pk).values_list(*names).get()
    return models.Model.from_db.__func__(model, record._state.db, names, values)


@pytest.fixture
def inits(monkeypatch):
    """Calls of Model.__init__, per model."""
    calls = []
    original = models.Model.__init__

    def counting(self, *args, **kwargs):
        calls.append(type(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(models.Model, "__init__", counting)
    return calls


def test_a_read_record_is_djangos_without_its_constructor(inits):
    customer = CustomerFactory(channel=ChannelFactory(), attributes={"color": "red"}, erp_code="E1")
    refund = RefundFactory(order=OrderFactory(customer=customer))
    for model, pk in ((Customer, customer.pk), (Order, refund.order.pk), (Refund, refund.pk)):
        del inits[:]
        record = model.objects.get(pk=pk)
        assert inits == [], model
        expected = djangos(record)
        assert list(vars(record)) == list(vars(expected))  # the same attributes, in the same order
        assert {k: v for k, v in vars(record).items() if k != "_state"} == {
            k: v for k, v in vars(expected).items() if k != "_state"
        }
        assert (record._state.adding, record._state.db) == (False, "default")


def test_a_foreign_keys_id_still_goes_through_its_descriptor():
    first, second = ChannelFactory(), ChannelFactory()
    customer = Customer.objects.get(pk=CustomerFactory(channel=first).pk)
    assert customer.channel == first  # read and cached
    customer.channel_id = second.pk  # drops the cached channel, as Django's setter does
    assert customer.channel == second


def test_a_record_with_deferred_fields_is_built_by_django(inits):
    pk = CustomerFactory(first_name="Ada").pk
    del inits[:]
    customer = Customer.objects.only("email").get(pk=pk)
    assert inits == [Customer]
    assert customer.get_deferred_fields() >= {"first_name"}
    assert customer.first_name == "Ada"  # loaded on access


def test_a_post_init_receiver_gets_every_record():
    pk = CustomerFactory().pk
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(receiver, sender=Customer)
    try:
        Customer.objects.get(pk=pk)
    finally:
        post_init.disconnect(receiver, sender=Customer)
    assert seen == [pk]
