from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from channels.models import Channel


@admin.register(Channel)
class ChannelAdmin(SimpleHistoryAdmin):
    list_display = ("pk", "name", "channel_type", "catalog", "is_active", "created_date")
    list_filter = ("channel_type", "is_active")
    search_fields = ("name",)
    readonly_fields = ("created_date", "modified_date")
