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
        # answers it. Refunds are only ever created through the API.
        services.publish(Customer, CustomerSerializer, "customer")
        services.publish(Channel, ChannelSerializer, "channel")
        services.publish(Order, OrderSerializer, "order")
        services.publish(Refund, RefundSerializer, "refund", operations=("created",))
        services.connect()
