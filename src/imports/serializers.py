from rest_framework import serializers

from channels.models import Channel
from customers.serializers import CustomerSerializer
from imports.models import Import


class KnownChannel(serializers.PrimaryKeyRelatedField):
    """A customer's `channel` as the API reads it, looked up among the channels the batch names
    (`context["channels"]`, read in one query per batch) instead of one query per row."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        channel = self.context["channels"].get(data)
        if channel is None:
            self.fail("does_not_exist", pk_value=data)
        return channel


class ImportedCustomerSerializer(CustomerSerializer):
    """A row of an import, validated as the API validates a customer it creates or updates, with the same errors.
    One instance validates every row of an import (its fields are built once); the import checks what the API
    checks with a query per record (the channel, a clashing channel_code) once per batch."""

    channel = KnownChannel(queryset=Channel.objects.all(), allow_null=True, required=False)

    def clashes(self, channel, code) -> bool:
        return False  # a row is matched to the customer with its channel and channel_code: there is no other


class ImportSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True, help_text="The share of the file read so far, 0 to 1.")

    class Meta:
        model = Import
        fields = (
            "pk",
            "status",
            "format",
            "dry_run",
            "mode",
            "atomic",
            "restore_erased",
            "channel",
            "size",
            "rows_read",
            "created",
            "updated",
            "unchanged",
            "failed",
            "progress",
            "error",
            "created_date",
            "started_date",
            "finished_date",
        )
        read_only_fields = fields
