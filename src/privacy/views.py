from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from apicore import conditional
from apicore.permissions import ModelPermissions
from customers.models import Customer
from customers.serializers import CustomerSerializer
from events.models import Event
from orders.models import Order, Refund
from privacy import services
from privacy.serializers import PersonalDataSerializer


class ViewsEverythingAboutCustomers(ModelPermissions):
    """The document holds the customer's orders and refunds too: `view_order` and `view_refund` besides
    `view_customer`."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.has_perms(
            ["orders.view_order", "orders.view_refund"]
        )


class PersonalData(GenericAPIView):
    """`GET /api/v1/customers/{id}/personal-data/`: everything held about the customer in one JSON document: the
    record, its orders and refunds, their history entries and their events (those the event feed still keeps)."""

    queryset = Customer.objects.all()
    serializer_class = PersonalDataSerializer
    permission_classes = [ViewsEverythingAboutCustomers]
    pagination_class = None
    filter_backends = []

    def get(self, request, pk):
        customer = self.get_object()
        orders = list(Order.objects.filter(customer=customer).order_by("pk"))
        refunds = list(Refund.objects.filter(order__customer=customer).order_by("pk"))
        # Of every order and refund the customer ever had, deleted ones included.
        order_history = Order.history.filter(customer_id=customer.pk)
        refund_history = Refund.history.filter(order_id__in=order_history.values("id"))
        newest_first = ("-history_date", "-history_id")
        history = {
            "customer": Customer.history.filter(id=customer.pk).order_by(*newest_first),
            "orders": order_history.order_by(*newest_first),
            "refunds": refund_history.order_by(*newest_first),
        }
        events = Event.objects.filter(
            Q(type__startswith="customer.", record_id=customer.pk)
            | Q(type__startswith="order.", record_id__in=order_history.values("id"))
            | Q(type__startswith="refund.", record_id__in=refund_history.values("id"))
        ).order_by("txid", "pk")
        document = {"customer": customer, "orders": orders, "refunds": refunds, "history": history, "events": events}
        return Response(self.get_serializer(document).data)


class ErasesCustomers(ModelPermissions):
    """`erase_customer` to erase, which `delete_customer` does not imply: an erase keeps the record and its books, and
    is granted on its own, to whoever answers data subjects' requests."""

    perms_map = {**ModelPermissions.perms_map, "POST": ["%(app_label)s.erase_%(model_name)s"]}


class Erase(GenericAPIView):
    """`POST /api/v1/customers/{id}/erase/`: erases the customer's personal data, on the record and in its history
    and events (privacy.services.erase), keeping its orders and refunds. Erasing an erased customer writes nothing
    and answers the same."""

    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    permission_classes = [ErasesCustomers]
    pagination_class = None
    filter_backends = []

    @extend_schema(request=None, responses=CustomerSerializer)
    def post(self, request, pk):
        customer = services.erase(self.get_object(), user=request.user, request_id=request.request_id)
        data = self.get_serializer(customer).data
        # The record's ETag, as every answer of a record carries (apicore.views.ModelViewSet).
        return Response(data, headers={"ETag": conditional.etag(data)})
