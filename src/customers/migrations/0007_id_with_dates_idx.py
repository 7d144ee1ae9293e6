"""The id with the dates a list filters by ranges, for walking the ids of a date range index only (PostgreSQL)."""

from django.db import migrations

from apicore.db import PostgresOnlySQL


class Migration(migrations.Migration):
    dependencies = [("customers", "0006_dates_with_id")]

    operations = [
        PostgresOnlySQL(
            "CREATE INDEX customer_id_dates_idx ON customers_customer (id) INCLUDE (created_date, date_joined)",
            "DROP INDEX IF EXISTS customer_id_dates_idx",
        ),
    ]
