from django.db.models import Count, Sum
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apicore.serializers import ModelSerializer, RelatedTotals, RelatedTotalsListSerializer
from channels.serializers import ChannelSerializer
from customers.models import Customer


class CustomerSerializer(ModelSerializer):
    # The production service spells these two with an "s"; integrations send either.
    input_aliases = {
        "attributes_kwargs": "attribute_kwargs",
        "localized_attributes_kwargs": "localized_attribute_kwargs",
    }

    class Meta:
        model = Customer
        fields = (
            "pk",
            "email",
            "first_name",
            "last_name",
            "phone_number",
            "is_active",
            "channel_code",
            "erp_code",
            "attributes",
            "attribute_kwargs",
            "localized_attributes",
            "localized_attribute_kwargs",
            "extra_field",
            "email_allowed",
            "sms_allowed",
            "call_allowed",
            "date_joined",
            "gender",
            "user_type",
            "date_of_birth",
            "channel",
            "created_date",
            "modified_date",
        )
        read_only_fields = ("created_date", "modified_date")
        extra_kwargs = {
            # The consent flags are left to DRF: optional, the model's default (false) on create, and on PUT an
            # omitted flag keeps its stored value (channel-app's get-or-create sends none of them).
            "is_active": {"required": True},
            # One of the choices or null, as the contract's enums say; the model's blank=True is for the admin.
            "gender": {"allow_blank": False},
            "user_type": {"allow_blank": False},
        }
        # channel_code uniqueness is checked in validate(): DRF's generated validator would make `channel` required.
        validators = []

    def validate(self, attrs):
        channel = attrs.get("channel", getattr(self.instance, "channel", None))
        code = attrs.get("channel_code", getattr(self.instance, "channel_code", None))
        clash = Customer.objects.filter(channel=channel, channel_code=code)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            where = f"channel {channel.pk}" if channel else "customers without a channel"
            raise serializers.ValidationError(
                {"channel_code": [f"A customer with this channel_code already exists in {where}."]}, code="unique"
            )
        return attrs


class ChannelCustomerSerializer(CustomerSerializer):
    """The request body of `/channel/{channel_id}/customers/` as documented: `channel` is the path's, whatever the
    body says (ChannelCustomerViewSet writes it), so it is read-only there."""

    class Meta(CustomerSerializer.Meta):
        read_only_fields = (*CustomerSerializer.Meta.read_only_fields, "channel")


class OrdersInfoSerializer(serializers.Serializer):
    """A customer's order totals; the amounts are null while it has no orders."""

    total_order_count = serializers.IntegerField()
    total_order_amount = serializers.FloatField(allow_null=True)
    total_discount_amount = serializers.FloatField(allow_null=True)
    total_refund_amount = serializers.FloatField(allow_null=True)


@extend_schema_field(OrdersInfoSerializer)
class OrdersInfo(RelatedTotals):
    """A customer's order totals, over all of its orders (read from the index `order_customer_totals` alone)."""

    def __init__(self, **kwargs):
        super().__init__(
            "orders",
            total_order_count=Count("*"),
            total_order_amount=Sum("amount"),
            total_discount_amount=Sum("discount_amount"),
            total_refund_amount=Sum("refunded_amount"),
            **kwargs,
        )


class CustomerDetailedSerializer(CustomerSerializer):
    """A customer with its channel embedded and the totals of its orders (read-only)."""

    channel = ChannelSerializer(read_only=True, allow_null=True)
    orders_info = OrdersInfo()

    class Meta(CustomerSerializer.Meta):
        fields = (*CustomerSerializer.Meta.fields, "orders_info")
        list_serializer_class = RelatedTotalsListSerializer
