from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apicore.compiled import Precompiled
from apicore.serializers import ModelSerializer
from channels.models import Channel
from channels.serializers import ChannelSerializer
from customers.models import Customer
from orders.models import Order

ORDERLESS = {
    "total_order_count": 0,
    "total_order_amount": None,
    "total_discount_amount": None,
    "total_refund_amount": None,
}


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


# A detailed page's channels, each read once (compiled: every detailed page sends it; apicore.compiled).
CHANNELS = Precompiled(lambda ids: Channel.objects.filter(pk__in=ids))


class CustomerDetailedListSerializer(serializers.ListSerializer):
    """A page of detailed customers: their order totals in one grouped query, and their channels in one query
    (a page's customers share a few channels; a join would build one per row)."""

    def to_representation(self, data):
        customers = list(data.all() if hasattr(data, "all") else data)
        totals = Order.objects.totals_by_customer([customer.pk for customer in customers])
        channel = Customer._meta.get_field("channel")
        wanted = sorted({c.channel_id for c in customers if c.channel_id is not None and not channel.is_cached(c)})
        channels = {row.pk: row for row in CHANNELS(wanted, using=customers[0]._state.db)} if wanted else {}
        for customer in customers:
            customer.orders_info = totals.get(customer.pk, ORDERLESS)
            if customer.channel_id in channels:
                channel.set_cached_value(customer, channels[customer.channel_id])
        return super().to_representation(customers)


class CustomerDetailedSerializer(CustomerSerializer):
    """A customer with its channel embedded and the totals of its orders (read-only)."""

    channel = ChannelSerializer(read_only=True, allow_null=True)
    orders_info = serializers.SerializerMethodField()

    class Meta(CustomerSerializer.Meta):
        fields = (*CustomerSerializer.Meta.fields, "orders_info")
        list_serializer_class = CustomerDetailedListSerializer

    @extend_schema_field(OrdersInfoSerializer)
    def get_orders_info(self, customer) -> dict:
        if not hasattr(customer, "orders_info"):
            customer.orders_info = Order.objects.totals_by_customer([customer.pk]).get(customer.pk, ORDERLESS)
        return customer.orders_info
