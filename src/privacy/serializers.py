from rest_framework import serializers

from apicore.serializers import HistoryEntrySerializer
from customers.serializers import CustomerSerializer
from events.serializers import EventSerializer
from orders.serializers import OrderSerializer, RefundSerializer


class PersonalHistorySerializer(serializers.Serializer):
    customer = HistoryEntrySerializer(many=True, help_text="The customer's changes, newest first.")
    orders = HistoryEntrySerializer(many=True, help_text="Its orders' changes, newest first.")
    refunds = HistoryEntrySerializer(many=True, help_text="Its refunds' changes, newest first.")


class PersonalDataSerializer(serializers.Serializer):
    """Everything held about one customer: what a data subject access request (GDPR art. 15) is answered with."""

    customer = CustomerSerializer()
    orders = OrderSerializer(many=True)
    refunds = RefundSerializer(many=True)
    history = PersonalHistorySerializer()
    events = EventSerializer(
        many=True, help_text="The events about the customer, its orders and refunds, oldest first."
    )
