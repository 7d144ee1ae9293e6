from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from apicore.serializers import ModelSerializer
from events import services as events
from webhooks import services
from webhooks.models import Attempt, Delivery, Webhook


class WebhookSerializer(ModelSerializer):
    url = serializers.URLField(max_length=2000, help_text="https://, or http:// to OMNITRON_WEBHOOK_HTTP_HOSTS.")
    events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        default=["*"],
        help_text='The event types to send (customer.updated, order.created, ...), or ["*"] for all.',
    )
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret: answered when the webhook is created or its secret rotated."
    )

    class Meta:
        model = Webhook
        fields = (
            "id",
            "url",
            "events",
            "is_active",
            "description",
            "secret",
            "failing_since",
            "disabled_reason",
            "created_date",
            "modified_date",
        )
        read_only_fields = ("failing_since", "disabled_reason", "created_date", "modified_date")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("show_secret"):
            del data["secret"]  # shown once: to whoever created the webhook or rotated its secret
        return data

    def validate_url(self, url: str) -> str:
        problem = services.url_problem(url)
        if problem:
            raise serializers.ValidationError(problem, code="forbidden_url")
        return url

    def validate_events(self, names: list[str]) -> list[str]:
        if not names:
            raise serializers.ValidationError('Name at least one event type, or "*" for all.', code="empty")
        known = events.event_types()
        unknown = [name for name in names if name != "*" and name not in known]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown event type {unknown[0]!r}; one of *, {', '.join(known)}.", code="invalid_choice"
            )
        # A webhook sends what the feed would show its creator: each type needs its model's view_ permission.
        allowed = events.allowed_types(self.context["request"].user)
        if any(name not in allowed for name in (known if "*" in names else names)):
            raise PermissionDenied("Each event type needs the view permission of its model.")
        return ["*"] if "*" in names else list(dict.fromkeys(names))


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ("date", "status_code", "duration_ms", "response", "error")


class DeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempts = AttemptSerializer(many=True, read_only=True, help_text="Newest first.")

    class Meta:
        model = Delivery
        fields = (
            "id",
            "event",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_date",
            "give_up_date",
            "created_date",
            "delivered_date",
            "attempts",
        )
        read_only_fields = fields
