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


class EventPageSerializer(serializers.Serializer):
    """The feed in the "paginated" list format (OMNITRON_LIST_FORMAT)."""

    next = serializers.URLField(allow_null=True, help_text="The events that follow, when this answer is full.")
    results = EventSerializer(many=True)
