"""The standard cases (tests/resources.py) for /api/v1/orders/ and /api/v1/orders/{order_id}/refunds/."""

import datetime as dt
from decimal import Decimal

from orders.filters import OrderFilterSet
from orders.models import Order, Refund
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, RefundFactory
from tests.resources import Route, RouteTests, ids_in, made, plain

UTC = dt.UTC


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 5, day, hour, tzinfo=UTC)


def related(name: str, factory):
    """A case for a foreign-key filter: the orders of one record and not those of another."""

    def case(route, scope):
        mine, other = factory(), factory()
        return str(mine.pk), [route.make(scope, **{name: mine})], [route.make(scope, **{name: other})]

    return case


class Orders(Route):
    name = "orders"
    model = Order
    operations = ("list", "create", "retrieve", "partial_update")
    filterset = OrderFilterSet
    text_fields = {"number": 128}
    read_only = {"pk": 999999, "refunded_amount": "999.00", "created_date": "2000-01-01T00:00:00Z",
                 "modified_date": "2000-01-01T00:00:00Z"}  # fmt: skip
    filters = {
        "customer": related("customer", lambda: CustomerFactory(channel=None)),
        "channel": related("channel", ChannelFactory),
        "status": plain("400", {"status": "400"}, [{"status": "200"}, {"status": "40"}]),
        "number": plain("WEB-1", {"number": "WEB-1"}, [{"number": "WEB-10"}, {"number": "web-1"}]),
        "date_placed": plain("2024-05-02T12:00:00Z", {"date_placed": at(2)}, {"date_placed": at(2, 13)}),
        "date_placed__gt": plain("2024-05-02T12:00:00Z", {"date_placed": at(2, 13)}, {"date_placed": at(2)}),
        "date_placed__gte": plain("2024-05-02T12:00:00Z", {"date_placed": at(2)}, {"date_placed": at(2, 11)}),
        "date_placed__lt": plain("2024-05-02T12:00:00Z", {"date_placed": at(2, 11)}, {"date_placed": at(2)}),
        "date_placed__lte": plain("2024-05-02T12:00:00Z", {"date_placed": at(2)}, {"date_placed": at(2, 13)}),
        "date_placed__date": plain("2024-05-02", {"date_placed": at(2, 23)}, {"date_placed": at(3, 0)}),
        "pk__in": ids_in,
    }
    sort_records = (
        {"number": "B", "date_placed": at(3), "amount": Decimal("5.00"), "created_date": at(1, 3),
         "modified_date": at(1, 1)},
        {"number": "C", "date_placed": at(1), "amount": Decimal("300.00"), "created_date": at(1, 1),
         "modified_date": at(1, 3)},
        {"number": "A", "date_placed": at(2), "amount": Decimal("40.00"), "created_date": at(1, 2),
         "modified_date": at(1, 2)},
    )  # fmt: skip

    def list_path(self, scope):
        return "/api/v1/orders/"

    def make(self, scope, **fields):
        return made(OrderFactory, **fields)

    def create_body(self, scope):
        customer = CustomerFactory(channel=ChannelFactory())
        return {"number": "ORD-NEW", "channel": customer.channel_id, "customer": customer.pk,
                "date_placed": "2024-05-01T10:00:00Z", "currency": "TRY", "amount": "250.00",
                "discount_amount": "20.00", "status": "400"}  # fmt: skip

    def patch_body(self, scope, record):
        return {"number": "ORD-PATCHED", "currency": "EUR", "status": "500"}


class TestOrders(RouteTests):
    route = Orders()


class Refunds(Route):
    name = "refunds"
    model = Refund
    operations = ("list", "create")
    conditional = False  # no record route
    text_fields = {"reason": 1024}
    read_only = {"pk": 999999, "order": 999999, "created_date": "2000-01-01T00:00:00Z"}

    def scope(self):
        return {"order": OrderFactory(amount=Decimal("1000.00"))}

    def list_path(self, scope):
        return f"/api/v1/orders/{scope['order'].pk}/refunds/"

    def make(self, scope, **fields):
        return made(RefundFactory, order=scope["order"], **fields)

    def create_body(self, scope):
        return {"amount": "12.50", "reason": "damaged"}


class TestRefunds(RouteTests):
    route = Refunds()
