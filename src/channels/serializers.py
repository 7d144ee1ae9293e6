from rest_framework import serializers

from apicore.serializers import JSONObjectField, ModelSerializer
from channels.models import Channel


class ChannelSerializer(ModelSerializer):
    id = serializers.IntegerField(read_only=True)
    conf = JSONObjectField(string_values=True)
    schema = JSONObjectField(required=False, allow_null=True)

    class Meta:
        model = Channel
        fields = (
            "id",
            "pk",
            "name",
            "catalog",
            "channel_type",
            "conf",
            "category_tree",
            "is_active",
            "schema",
            "created_date",
            "modified_date",
        )
        read_only_fields = ("created_date", "modified_date")
        extra_kwargs = {"is_active": {"required": True}}
