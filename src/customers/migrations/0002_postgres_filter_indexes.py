"""Indexes that let PostgreSQL serve each customer filter without scanning the table.

The ORM writes `email=` as UPPER(email::text) = UPPER(%s) and `email__startswith=` as
UPPER(email::text) LIKE UPPER(%s), so both are served by one text_pattern_ops index on UPPER(email);
`erp_code` (contains) by a trigram index; `attributes__<key>` / `extra_field__<key>` (containment, @>)
by GIN jsonb_path_ops. Plain column indexes are declared on the model and exist on SQLite too.
"""

from django.db import migrations

from apicore.db import PostgresOnlySQL

TABLE = "customers_customer"


def index(name: str, definition: str) -> PostgresOnlySQL:
    return PostgresOnlySQL(f"CREATE INDEX {name} ON {TABLE} {definition}", f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [
        PostgresOnlySQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        index("customer_email_upper_idx", "(UPPER(email) text_pattern_ops)"),
        index("customer_first_name_upper_idx", "(UPPER(first_name))"),
        index("customer_last_name_upper_idx", "(UPPER(last_name))"),
        index("customer_erp_code_trgm_idx", "USING gin (UPPER(erp_code) gin_trgm_ops)"),
        index("customer_attributes_gin_idx", "USING gin (attributes jsonb_path_ops)"),
        index("customer_extra_field_gin_idx", "USING gin (extra_field jsonb_path_ops)"),
    ]
