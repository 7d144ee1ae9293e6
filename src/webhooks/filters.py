import django_filters

from apicore.filters import FilterSet, StrictBooleanFilter
from webhooks.models import Delivery, Webhook


class WebhookFilterSet(FilterSet):
    is_active = StrictBooleanFilter()

    class Meta:
        model = Webhook
        fields = []


class DeliveryFilterSet(FilterSet):
    status = django_filters.ChoiceFilter(choices=Delivery.STATUSES)
    event_type = django_filters.CharFilter(field_name="event__type")

    class Meta:
        model = Delivery
        fields = []
