from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from orders.models import Order, Refund


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    readonly_fields = ("created_date",)


@admin.register(Order)
class OrderAdmin(SimpleHistoryAdmin):
    list_display = ("pk", "number", "channel", "customer", "status", "amount", "currency", "date_placed")
    list_filter = ("status", "channel", "currency")
    search_fields = ("number", "customer__email")
    list_select_related = ("channel", "customer")
    raw_id_fields = ("channel", "customer")
    readonly_fields = ("refunded_amount", "created_date", "modified_date")  # the refunds keep the total
    inlines = (RefundInline,)
    show_full_result_count = False


@admin.register(Refund)
class RefundAdmin(SimpleHistoryAdmin):
    list_display = ("pk", "order", "amount", "created_date")
    search_fields = ("order__number",)
    raw_id_fields = ("order",)
    readonly_fields = ("created_date",)
    show_full_result_count = False
