from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from apicore.idempotency import IdempotentCreateMixin
from apicore.views import ModelViewSet, ScopedMixin
from orders import services
from orders.filters import OrderFilterSet
from orders.models import Order, Refund
from orders.serializers import OrderSerializer, RefundSerializer


class OrderViewSet(ModelViewSet):
    # Orders are never deleted or replaced whole: their refunds and totals refer to them.
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = Order.objects.order_by("pk")
    serializer_class = OrderSerializer
    filterset_class = OrderFilterSet


@extend_schema_view(
    **dict.fromkeys(
        ("list", "create"), extend_schema(parameters=[OpenApiParameter("order_id", int, OpenApiParameter.PATH)])
    )
)
class RefundViewSet(
    ScopedMixin, IdempotentCreateMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """`/orders/{order_id}/refunds/`: an order's refunds, oldest first."""

    queryset = Refund.objects.order_by("pk")
    serializer_class = RefundSerializer
    scope = {"order_id": "order"}
    read_actions = {"list": "list"}

    def perform_create(self, serializer):
        serializer.instance = services.refund_create(order=self.scope_record("order_id"), **serializer.validated_data)
