from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """Bulk import of customers from CSV or JSON Lines: uploaded, validated row by row as the API validates, written
    in the background by `omnitron worker` (or at once by `omnitron import_customers`), with a report per row."""

    name = "imports"
