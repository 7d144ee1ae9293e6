from django.db.models import Count, Sum
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apicore.exceptions import Conflict
from apicore.serializers import ModelSerializer, RelatedTotals, RelatedTotalsListSerializer
from channels.serializers import ChannelSerializer
from customers.models import Customer, erased_email


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
        if self.clashes(channel, code):
            where = f"channel {channel.pk}" if channel else "customers without a channel"
            raise serializers.ValidationError(
                {"channel_code": [f"A customer with this channel_code already exists in {where}."]}, code="unique"
            )
        # An erased customer gets a real email back only when the caller says so: a channel's sync sending the
        # person's old data again must not undo the erasure unnoticed.
        erased = getattr(self.instance, "erased_date", None) is not None
        if erased and "email" in attrs and attrs["email"] != self.instance.email and not self.restore_erased:
            raise serializers.ValidationError(
                {
                    "email": [
                        "This customer's personal data was erased; send restore_erased=true to give it an email again."
                    ]
                },
                code="erased",
            )
        return attrs

    def clashes(self, channel, code) -> bool:
        """Whether another customer has this channel_code in this channel (one query)."""
        clash = Customer.objects.filter(channel=channel, channel_code=code)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        return clash.exists()

    @property
    def restore_erased(self) -> bool:
        return bool(self.context.get("restore_erased"))

    def update(self, instance, validated_data):
        if instance.erased_date is not None and validated_data.get("email", instance.email) != instance.email:
            instance.erased_date = None  # restored (validate() let it through with restore_erased)
        instance = super().update(instance, validated_data)
        # The row as it was just before this save, read locked (apicore.history): an erase that committed after
        # `instance` was read would be overwritten with the personal data it held, so the write is refused.
        before = getattr(instance, "_history_before", None) or {}
        if before.get("email") == erased_email(instance.pk) != instance.email and not self.restore_erased:
            raise Conflict("This customer's personal data was erased meanwhile; read it again.")
        return instance


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
