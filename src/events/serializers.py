from rest_framework import serializers

from events.models import Event


class EventSerializer(serializers.ModelSerializer):
    cursor = serializers.CharField(read_only=True, help_text="Send it as `after=` to read the events that follow.")
    data = serializers.JSONField(
        read_only=True, help_text="The record as the API answers it (the last one if deleted)."
    )
    changes = serializers.JSONField(
        read_only=True, help_text='The fields changed, with old and new values: {"email": {"old": ..., "new": ...}}.'
    )
    version = serializers.CharField(read_only=True, help_text="The record's ETag after the change.")

    class Meta:
        model = Event
        fields = ("cursor", "id", "type", "created_date", "record_id", "version", "request_id", "changes", "data")
        read_only_fields = fields

    def to_representation(self, event):
        # The fields above, built directly: the feed and each batch of webhook deliveries render many events at
        # once, and DRF's way (each value through its field, each field through its source) was half of a worker's
        # CPU per delivery. tests/events and tests/webhooks compare the result with the declared fields' own.
        return {
            "cursor": event.cursor,
            "id": event.pk,
            "type": event.type,
            "created_date": self.fields["created_date"].to_representation(event.created_date),
            "record_id": event.record_id,
            "version": event.version,
            "request_id": event.request_id,
            "changes": event.changes,
            "data": event.data,
        }


class EventPageSerializer(serializers.Serializer):
    """The feed in the "paginated" list format (OMNITRON_LIST_FORMAT)."""

    next = serializers.URLField(allow_null=True, help_text="The events that follow, when this answer is full.")
    results = EventSerializer(many=True)
