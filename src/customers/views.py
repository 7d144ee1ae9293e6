from collections.abc import Mapping

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS

from apicore.export import ExportMixin
from apicore.views import ModelViewSet
from customers.filters import CustomerFilterSet
from customers.models import Customer
from customers.serializers import ChannelCustomerSerializer, CustomerDetailedSerializer, CustomerSerializer


class CustomerViewSet(ExportMixin, ModelViewSet):
    queryset = Customer.objects.order_by("pk")
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    read_actions = {**ModelViewSet.read_actions, "detailed_list": "list", "detailed": "retrieve"}
    export_detailed_action = "detailed_list"  # `export/?detailed=true` (apicore.export)

    def get_queryset(self):
        if self.action in {"detailed_list", "detailed"}:
            return super().get_queryset().select_related("channel")
        return super().get_queryset()

    def get_serializer_class(self):
        if self.action in {"detailed_list", "detailed"}:
            return CustomerDetailedSerializer
        return super().get_serializer_class()

    def get_serializer_context(self):
        """`restore_erased=true` lets a write give an erased customer an email again (CustomerSerializer.validate).
        Reads ignore it, as they ignore every parameter they do not know."""
        context = super().get_serializer_context()
        request = context.get("request")
        if request is not None and request.method not in SAFE_METHODS and "restore_erased" in request.query_params:
            value = request.query_params["restore_erased"]
            if value not in ("true", "false"):
                raise ValidationError({"restore_erased": ["Must be true or false."]}, code="invalid")
            context["restore_erased"] = value == "true"
        return context

    @extend_schema(responses=CustomerDetailedSerializer(many=True))
    @action(detail=False, url_path="detailed")
    def detailed_list(self, request, **kwargs):
        return self.list(request, **kwargs)

    @action(detail=True, url_path="detailed")
    def detailed(self, request, **kwargs):
        return self.retrieve(request, **kwargs)


CHANNEL_ID = OpenApiParameter("channel_id", int, OpenApiParameter.PATH)


@extend_schema_view(
    **dict.fromkeys(
        ("list", "retrieve", "destroy", "detailed_list", "detailed"), extend_schema(parameters=[CHANNEL_ID])
    ),
    **dict.fromkeys(
        ("create", "update", "partial_update"),
        extend_schema(parameters=[CHANNEL_ID], request=ChannelCustomerSerializer),
    ),
)
class ChannelCustomerViewSet(CustomerViewSet):
    """`/channel/{channel_id}/customers/`: the same operations, scoped to one channel (the SDK's route).

    Another channel's customer is not found here; writes always land in the channel of the path.
    """

    scope = {"channel_id": "channel"}

    def get_serializer(self, *args, **kwargs):
        if isinstance(kwargs.get("data"), Mapping):
            kwargs["data"] = {**kwargs["data"], "channel": self.scope_record("channel_id").pk}
        return super().get_serializer(*args, **kwargs)
