from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self):
        from channels.models import Channel
        from channels.serializers import ChannelSerializer
        from customers.models import Customer
        from customers.serializers import CustomerSerializer
        from events import services
        from orders.models import Order, Refund
        from orders.serializers import OrderSerializer, RefundSerializer

        # What each change publishes: `<name>.created`, `.updated`, `.deleted` with the record as its main route
        # answers it. Refunds are only ever created through the API. A customer is also `erased` (privacy.services):
        # the record without its personal data, so that subscribers erase their copies too.
        services.publish(
            Customer, CustomerSerializer, "customer", operations=("created", "updated", "deleted", "erased")
        )
        services.publish(Channel, ChannelSerializer, "channel")
        services.publish(Order, OrderSerializer, "order")
        services.publish(Refund, RefundSerializer, "refund", operations=("created",))
        services.connect()
