from django.contrib import admin

from webhooks.models import Attempt, Delivery, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("url", "is_active", "events", "failing_since", "created_date")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    # The secret is the API's to show, once; the cursor and health are the worker's.
    exclude = ("secret",)
    readonly_fields = ("user", "cursor_txid", "cursor_id", "failing_since", "disabled_reason")


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = ("date", "status_code", "duration_ms", "response", "error")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "webhook", "status", "attempt_count", "next_attempt_date", "delivered_date")
    list_filter = ("status",)
    list_select_related = ("event", "webhook")
    raw_id_fields = ("event", "webhook")
    readonly_fields = ("lease_expires", "claim")
    inlines = [AttemptInline]
