from django.contrib import admin

from customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("pk", "email", "first_name", "last_name", "channel", "channel_code", "is_active", "created_date")
    list_filter = ("channel", "is_active", "gender", "user_type", "email_allowed", "sms_allowed", "call_allowed")
    search_fields = ("email", "first_name", "last_name", "channel_code", "erp_code", "phone_number")
    list_select_related = ("channel",)
    raw_id_fields = ("channel",)
    readonly_fields = ("created_date", "modified_date")
    # Counting millions of rows on every page view is the admin's slowest query.
    show_full_result_count = False
