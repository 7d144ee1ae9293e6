from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.urls import path
from simple_history.admin import SimpleHistoryAdmin

from apicore.export import Export
from customers.models import Customer
from customers.serializers import CustomerSerializer
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

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        return [path("export/", export, name="customers_customer_export"), *super().get_urls()]

    def export_view(self, request):
        """The list as filtered, searched and sorted on the page, every row of it, as the API's CSV export
        (apicore.export): the same columns and values."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        queryset = self.get_changelist_instance(request).get_queryset(request)
        export = Export(queryset, CustomerSerializer, "csv", name="customers")
        response = StreamingHttpResponse(export.chunks(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response
