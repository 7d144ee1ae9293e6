import django_filters

from apicore.filters import FilterSet, IntegerInFilter, SortFilter
from channels.models import Channel


class ChannelFilterSet(FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    pk__in = IntegerInFilter(field_name="pk")
    sort = SortFilter(fields=("pk", "id", "name", "created_date", "modified_date"))

    class Meta:
        model = Channel
        fields = {"channel_type": ["exact"], "is_active": ["exact"]}
