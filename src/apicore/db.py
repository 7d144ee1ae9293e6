"""Database helpers the apps share: migration operations for one engine, SQLite functions."""

import functools
import re

from django.db import migrations

__all__ = ["PostgresOnlySQL", "VendorSQL", "register_sqlite_functions"]


class VendorSQL(migrations.RunSQL):
    """SQL that only one database engine runs (`vendor`: "postgresql", "sqlite"); the others skip it."""

    def __init__(self, vendor: str, *args, **kwargs):
        self.vendor = vendor
        super().__init__(*args, **kwargs)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class PostgresOnlySQL(VendorSQL):
    """SQL that only PostgreSQL runs (expression, trigram and GIN indexes); SQLite skips it."""

    def __init__(self, *args, **kwargs):
        super().__init__("postgresql", *args, **kwargs)


@functools.lru_cache(maxsize=512)
def _like_pattern(pattern: str, escape: str | None) -> re.Pattern:
    parts, chars = [], iter(pattern)
    for char in chars:
        if char == escape:
            parts.append(re.escape(next(chars, "").casefold()))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char.casefold()))
    return re.compile("".join(parts), re.DOTALL)


def sqlite_like(pattern, value, escape=None):
    """SQL `value LIKE pattern [ESCAPE escape]`, folding the case of every letter, not only ASCII ones."""
    if pattern is None or value is None:
        return None
    return _like_pattern(pattern, escape).fullmatch(str(value).casefold()) is not None


def register_sqlite_functions(sender, connection, **kwargs):
    """On SQLite, case-insensitive filters (`email`, `first_name`, ... are LIKE there) match `ŞÜKRÜ` to `şükrü`.

    SQLite's own LIKE folds ASCII letters only; PostgreSQL's UPPER() folds all of them.
    """
    if connection.vendor == "sqlite":
        connection.connection.create_function("like", 2, sqlite_like, deterministic=True)
        connection.connection.create_function("like", 3, sqlite_like, deterministic=True)
