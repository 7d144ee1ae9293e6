from decimal import Decimal

from django.core.validators import RegexValidator
from rest_framework import serializers

from apicore.serializers import ModelSerializer
from orders.models import MONEY, Order, Refund

# Three ASCII letters, in either case (stored upper-cased); checked before upper-casing, which would turn "ßa" into
# "SSA". As a RegexValidator it is also the field's `pattern` in the OpenAPI document.
CURRENCY = RegexValidator(r"^[A-Za-z]{3}$", "Enter an ISO 4217 currency code, such as TRY or EUR.", code="invalid")


def money(**kwargs) -> serializers.DecimalField:
    """Money in and out as a decimal string with two places ("250.00"); numbers are accepted on input."""
    return serializers.DecimalField(**MONEY, min_value=Decimal("0"), **kwargs)


class OrderSerializer(ModelSerializer):
    amount = money()
    discount_amount = money(required=False)
    shipping_amount = money(required=False)
    refunded_amount = serializers.DecimalField(**MONEY, read_only=True)

    class Meta:
        model = Order
        fields = (
            "pk",
            "number",
            "channel",
            "customer",
            "date_placed",
            "status",
            "currency",
            "amount",
            "discount_amount",
            "shipping_amount",
            "refunded_amount",
            "created_date",
            "modified_date",
        )
        read_only_fields = ("created_date", "modified_date")
        extra_kwargs = {"currency": {"validators": [CURRENCY]}}
        # `number` uniqueness per channel is checked in validate(), with the contract's error shape.
        validators = []

    def validate_currency(self, value: str) -> str:
        return value.upper()

    def validate(self, attrs):
        def current(name):
            return attrs.get(name, getattr(self.instance, name, None))

        channel, customer, number = current("channel"), current("customer"), current("number")
        amount, discount = current("amount"), current("discount_amount") or Decimal("0")
        if amount is not None and discount > amount:
            raise serializers.ValidationError(
                {"discount_amount": ["Ensure this value is not greater than amount."]}, code="max_value"
            )
        if customer.channel_id is not None and customer.channel_id != channel.pk:
            raise serializers.ValidationError(
                {"customer": [f"This customer belongs to channel {customer.channel_id}."]}, code="invalid"
            )
        clash = Order.objects.filter(channel=channel, number=number)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(
                {"number": [f"An order with this number already exists in channel {channel.pk}."]}, code="unique"
            )
        return attrs


REASON_MAX_LENGTH = 1024


class RefundSerializer(ModelSerializer):
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"))

    class Meta:
        model = Refund
        fields = ("pk", "order", "amount", "reason", "created_date")
        read_only_fields = ("order", "created_date")
        # Bounded here, not in the column: every text a request stores has a limit, and the table keeps its triggers
        # (a changed column would rebuild it on SQLite, see migration 0003).
        extra_kwargs = {"reason": {"max_length": REASON_MAX_LENGTH}}
