"""Database helpers the apps share: migration operations for one engine, SQLite functions, bulk inserts."""

import datetime
import functools
import json
import re
import time

import orjson
import psycopg
from django.db import connections, migrations, models
from psycopg import sql
from psycopg.types.json import Jsonb

__all__ = [
    "PostgresOnlySQL",
    "SQLValue",
    "VendorSQL",
    "insert_all",
    "insert_rows",
    "insert_values",
    "register_sqlite_functions",
]


def _dumps(value) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # what only Python's encoder writes (an integer beyond 64 bits)
        return json.dumps(value).encode()


def _json_value(value):
    """A JSON column's value for COPY, written by orjson (Django's adaptation writes it with Python's json module:
    a third of a customer's COPY row)."""
    return None if value is None else Jsonb(value, dumps=_dumps)


def insert_all(model, objs: list, using: str = "default") -> list:
    """Inserts the records at once, giving each its primary key, as `bulk_create` does (no signals, no save()).

    On PostgreSQL by COPY, with primary keys drawn from the table's sequence first: bulk_create's INSERT sends each
    column as an array literal, which psycopg writes with a regular expression per value (measured: 60 % of an
    import's time); COPY's text rows are written in C.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or not objs:
        return model._default_manager.using(using).bulk_create(objs)
    opts = model._meta
    keyless = [obj for obj in objs if obj.pk is None]
    if keyless and opts.pk.db_returning:  # an auto-incremented key
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [opts.db_table, opts.pk.column, len(keyless)],
            )
            for obj, (pk,) in zip(keyless, cursor.fetchall(), strict=True):
                obj.pk = pk
    fields = [field for field in opts.concrete_fields if not field.generated]
    _copy(connection, model, fields, ([field.pre_save(obj, True) for field in fields] for obj in objs))
    for obj in objs:
        obj._state.adding, obj._state.db = False, using
    return objs


def insert_values(model, names: list[str], rows: list[list], using: str = "default") -> None:
    """Inserts rows of values of the named fields (attribute names) of `model` at once, without a model instance
    per row: COPY on PostgreSQL (see insert_all), bulk_create elsewhere. The other fields take their database
    defaults (an auto-incremented key)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        model._default_manager.using(using).bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows])
    elif rows:
        fields = {field.attname: field for field in model._meta.concrete_fields}
        _copy(connection, model, [fields[name] for name in names], rows)


class SQLValue(str):
    """A column's value given as SQL the database evaluates (`pg_current_xact_id()`), written into the statement."""


def insert_rows(rows: list[tuple[type[models.Model], dict]], using: str = "default") -> None:
    """Inserts one row into each model's table (attribute name -> value; the other columns take their defaults). A
    model with `replaces_on_conflict` (apicore.lines.StoredLine) replaces the row with the same primary key.

    On PostgreSQL all of them in ONE statement (data-modifying CTEs: `WITH a AS (INSERT ...) INSERT ...`): a write's
    history entry and event cost one round trip, not an ORM save each (measured: an ORM INSERT is 0.18 ms of client
    CPU here). Elsewhere one INSERT per row.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        for model, values in rows:
            options = {}
            if getattr(model, "replaces_on_conflict", False):
                key = model._meta.pk
                others = [field.name for field in model._meta.concrete_fields if field is not key]
                options = {"update_conflicts": True, "unique_fields": [key.name], "update_fields": others}
            model._base_manager.using(using).bulk_create([model(**values)], **options)
        return
    parts, params = [], []
    for model, values in rows:
        table, columns, prepare = _insert_statement(model, tuple(values), using)
        placeholders = []
        for value, to_db in zip(values.values(), prepare, strict=True):
            if isinstance(value, SQLValue):
                placeholders.append(value)
            else:
                placeholders.append("%s")
                params.append(to_db(value))
        part = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(placeholders)})"
        if getattr(model, "replaces_on_conflict", False):
            part += _replacing(model, tuple(values), using)
        parts.append(part)
    *first, last = parts
    statement = "".join(f"{'WITH' if not n else ','} row{n} AS ({part}) " for n, part in enumerate(first)) + last
    # Prepared and bound on the server (psycopg's Cursor on Django's connection, in the write's transaction): Django's
    # own cursor binds on the client, which for this statement's 40 values and JSON cost 0.4 ms of a write's CPU,
    # client and server together (bench/results). Logged where Django logs its queries (DEBUG, query capture).
    connection.ensure_connection()
    started = time.perf_counter()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(statement, params, prepare=True)
    if connection.queries_logged:
        sql_text = psycopg.ClientCursor(connection.connection).mogrify(statement, params)
        connection.queries_log.append({"sql": sql_text, "time": f"{time.perf_counter() - started:.3f}"})


@functools.cache
def _replacing(model, names: tuple[str, ...], using: str) -> str:
    """The ON CONFLICT clause of a row that replaces the one with its primary key (`replaces_on_conflict`)."""
    quote = connections[using].ops.quote_name
    fields = {field.attname: field for field in model._meta.concrete_fields}
    key = model._meta.pk
    updates = ", ".join(f"{quote(fields[name].column)} = EXCLUDED.{quote(fields[name].column)}"
                        for name in names if fields[name] is not key)  # fmt: skip
    return f" ON CONFLICT ({quote(key.column)}) DO UPDATE SET {updates}"


@functools.cache
def _insert_statement(model, names: tuple[str, ...], using: str) -> tuple[str, str, list]:
    """The quoted table and columns of an INSERT of the named fields, and how each value is prepared; cached: a
    write inserts the same columns every time."""
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = {field.attname: field for field in model._meta.concrete_fields}
    columns = ", ".join(quote(fields[name].column) for name in names)
    return quote(model._meta.db_table), columns, [_preparer(fields[name], connection) for name in names]


# Fields whose database value is the Python value itself when it has one of these types (their get_prep_value is
# to_python, an identity for such a value); anything else goes through get_db_prep_save.
PLAIN = (
    (models.BooleanField, (bool,)),
    (models.IntegerField, (int,)),
    (models.CharField, (str,)),
    (models.TextField, (str,)),
)


def _preparer(field, connection):
    """How a value of `field` becomes what COPY writes, as get_db_prep_save makes it, decided once per column."""
    if isinstance(field, models.JSONField) and field.encoder is None:
        return _json_value
    prepare = functools.partial(field.get_db_prep_save, connection=connection)
    if connection.vendor == "postgresql":
        # psycopg adapts these as they are: an id of a foreign key, an aware date-time, a date (what Django's
        # preparation answers for them on PostgreSQL, at a tenth of its cost: most of a worker's queueing).
        if type(field) is models.ForeignKey and isinstance(field.target_field, models.AutoField):
            return lambda value: value if type(value) is int else prepare(value)
        if type(field) is models.DateTimeField:
            return lambda value: value if type(value) is datetime.datetime and value.tzinfo else prepare(value)
        if type(field) is models.DateField:
            return lambda value: value if type(value) is datetime.date else prepare(value)
    for field_class, types in PLAIN:
        if type(field).get_db_prep_save is models.Field.get_db_prep_save and isinstance(field, field_class):
            if type(field).get_prep_value is not field_class.get_prep_value:
                break  # a field of its own making: its own preparation
            plain = (*types, type(None))
            return lambda value: value if type(value) in plain else prepare(value)
    return prepare


def _copy(connection, model, fields: list, rows) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(field.column) for field in fields)
    )
    prepare = [_preparer(field, connection) for field in fields]
    # psycopg's errors as Django's (a unique violation an IntegrityError), as every query through the ORM raises.
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([to_db(value) for value, to_db in zip(row, prepare, strict=True)])


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
