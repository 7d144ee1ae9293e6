from apicore.export import ExportCommand
from customers.views import CustomerViewSet


class Command(ExportCommand):
    help = (
        "Write every customer the filters match, as GET /api/v1/customers/export/ does: "
        "export_customers [--format jsonl|csv] [--detailed] [--output FILE] [FILTER=VALUE ...]"
    )
    viewset = CustomerViewSet
