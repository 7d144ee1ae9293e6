from decimal import Decimal

import factory
from django.utils import timezone

from channels.models import Channel
from customers.models import Customer
from orders.models import Order, Refund


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"Channel {n}")
    catalog = 1
    channel_type = "web"
    conf = factory.LazyFunction(dict)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    channel_code = factory.Sequence(lambda n: f"code-{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    is_active = True


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"ORD-{n}")
    customer = factory.SubFactory(CustomerFactory)
    channel = factory.LazyAttribute(lambda o: o.customer.channel or ChannelFactory())
    date_placed = factory.LazyFunction(timezone.now)
    currency = "TRY"
    amount = Decimal("100.00")


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Refund

    order = factory.SubFactory(OrderFactory)
    amount = Decimal("10.00")
