"""Database helpers shared by the apps' migrations."""

from django.db import migrations

__all__ = ["PostgresOnlySQL"]


class PostgresOnlySQL(migrations.RunSQL):
    """SQL that only PostgreSQL runs (expression, trigram and GIN indexes); SQLite skips it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
