"""A customer's orders indexed with the amounts orders_info sums (PostgreSQL includes them; SQLite indexes the
customer alone), in place of the foreign key's own index on the customer.

The foreign key's index is dropped by name rather than by altering the field: on SQLite that alteration rebuilds the
orders table, which the refund triggers of migration 0003 refer to.
"""

import django.db.models.deletion
from django.db import migrations, models

TOTALS_INDEX = models.Index(
    fields=["customer"], include=("amount", "discount_amount", "refunded_amount"), name="order_customer_totals"
)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_id_with_dates_idx"),
        ("orders", "0003_order_refunded_amount"),
    ]

    operations = [
        migrations.AddIndex(model_name="order", index=TOTALS_INDEX),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="customers.customer",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX orders_order_customer_id_0b76f6a4",
                    "CREATE INDEX orders_order_customer_id_0b76f6a4 ON orders_order (customer_id)",
                ),
            ],
        ),
    ]
