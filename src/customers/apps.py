from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self):
        from apicore import lines
        from customers.models import Customer, CustomerLine
        from customers.serializers import CustomerSerializer

        # The export's JSON Lines of customers read stored lines (apicore.lines).
        lines.keep(Customer, CustomerSerializer, CustomerLine)
