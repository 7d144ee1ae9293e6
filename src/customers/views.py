from rest_framework.decorators import action

from apicore.views import ModelViewSet
from customers.filters import CustomerFilterSet
from customers.models import Customer
from customers.serializers import CustomerDetailedSerializer, CustomerSerializer


class CustomerViewSet(ModelViewSet):
    queryset = Customer.objects.order_by("pk")
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet

    def get_queryset(self):
        if self.action in {"detailed_list", "detailed"}:
            return super().get_queryset().select_related("channel")
        return super().get_queryset()

    def get_serializer_class(self):
        if self.action in {"detailed_list", "detailed"}:
            return CustomerDetailedSerializer
        return super().get_serializer_class()

    @action(detail=False, url_path="detailed")
    def detailed_list(self, request):
        return self.list(request)

    @action(detail=True, url_path="detailed")
    def detailed(self, request, pk=None):
        return self.retrieve(request, pk=pk)
