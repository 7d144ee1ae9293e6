from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from customers.models import Customer
from orders.models import Order


class OrderInline(admin.TabularInline):
    model = Order
    fields = ("number", "channel", "status", "amount", "discount_amount", "currency", "date_placed")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ("pk", "email", "first_name", "last_name", "channel", "channel_code", "is_active", "created_date")
    list_filter = ("channel", "is_active", "gender", "user_type", "email_allowed", "sms_allowed", "call_allowed")
    search_fields = ("email", "first_name", "last_name", "channel_code", "erp_code", "phone_number")
    list_select_related = ("channel",)
    raw_id_fields = ("channel",)
    readonly_fields = ("orders_info", "created_date", "modified_date")
    inlines = (OrderInline,)
    # Counting millions of rows on every page view is the admin's slowest query.
    show_full_result_count = False

    @admin.display(description="Orders info")
    def orders_info(self, customer):
        from customers.serializers import OrdersInfo

        info = OrdersInfo().totals([customer])[customer.pk]
        amounts = {
            name.removeprefix("total_").replace("_", " "): "-" if value is None else f"{value:.2f}"
            for name, value in info.items()
            if name != "total_order_count"
        }
        return ", ".join([f"order count: {info['total_order_count']}", *(f"{k}: {v}" for k, v in amounts.items())])
