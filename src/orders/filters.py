from apicore.filters import FilterSet, IntegerInFilter, SortFilter
from orders.models import Order


class OrderFilterSet(FilterSet):
    pk__in = IntegerInFilter(field_name="pk")
    sort = SortFilter(fields=("pk", "id", "number", "date_placed", "created_date", "modified_date", "amount"))

    class Meta:
        model = Order
        fields = {
            "customer": ["exact"],
            "channel": ["exact"],
            "status": ["exact"],
            "number": ["exact"],
            "date_placed": ["exact", "gt", "gte", "lt", "lte", "date"],
        }
