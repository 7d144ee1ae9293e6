import django_filters

from apicore.filters import FilterSet, IntegerInFilter, SortFilter
from customers.models import Customer

DATETIME_LOOKUPS = ["exact", "gt", "gte", "lt", "lte", "date", "date__gt", "date__gte", "date__lt", "date__lte"]


class CustomerFilterSet(FilterSet):
    # The contract's names for case-insensitive lookups carry no `i`.
    email = django_filters.CharFilter(lookup_expr="iexact")
    email__startswith = django_filters.CharFilter(field_name="email", lookup_expr="istartswith")
    first_name = django_filters.CharFilter(lookup_expr="iexact")
    last_name = django_filters.CharFilter(lookup_expr="iexact")
    erp_code = django_filters.CharFilter(lookup_expr="icontains")
    pk__in = IntegerInFilter(field_name="pk")
    sort = SortFilter(
        fields=("pk", "id", "created_date", "modified_date", "date_joined", "email", "first_name", "last_name")
    )

    class Meta:
        model = Customer
        fields = {
            "channel": ["exact"],
            "channel_code": ["exact"],
            "phone_number": ["exact"],
            "created_date": DATETIME_LOOKUPS,
            "date_joined": DATETIME_LOOKUPS,
            "date_of_birth": ["exact", "gt", "gte", "lt", "lte"],
            "email_allowed": ["exact"],
            "sms_allowed": ["exact"],
            "call_allowed": ["exact"],
            "gender": ["exact"],
            "user_type": ["exact"],
        }
        json_fields = ("attributes", "extra_field")
