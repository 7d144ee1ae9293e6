"""apicore.postgresql: the pool's connection check is skipped for a connection checked within the bypass window, and
only then; timestamps are read by psycopg's C loader where it gives Django's values, by Django's loader elsewhere."""

import datetime

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg._cmodule import _psycopg
from psycopg_pool import ConnectionPool

from apicore.postgresql import base as dbpool


class Connection:
    """Stands for a pooled connection: the check is replaced, so no server is needed."""


@pytest.fixture
def checks(monkeypatch):
    now = [100.0]
    checked = []
    monkeypatch.setattr(dbpool, "clock", lambda: now[0])
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(checked.append))
    return now, checked


def test_a_connection_is_checked_again_only_after_the_window(checks):
    now, checked = checks
    conn = Connection()
    dbpool.check_connection(conn)
    now[0] += dbpool.BYPASS_SECONDS / 2
    dbpool.check_connection(conn)
    assert checked == [conn]
    now[0] += dbpool.BYPASS_SECONDS
    dbpool.check_connection(conn)
    assert checked == [conn, conn]


def test_each_connection_has_its_own_window(checks):
    _, checked = checks
    first, second = Connection(), Connection()
    dbpool.check_connection(first)
    dbpool.check_connection(second)
    assert checked == [first, second]


def test_a_failed_check_is_not_remembered(checks, monkeypatch):
    conn = Connection()

    def broken(connection):
        raise OSError("server closed the connection")

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(broken))
    with pytest.raises(OSError):
        dbpool.check_connection(conn)
    with pytest.raises(OSError):  # still within the window: checked again, as it never passed
        dbpool.check_connection(conn)


@pytest.mark.django_db
def test_the_pool_runs_this_check():
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    connection.ensure_connection()
    assert connection.pool._check is dbpool.check_connection


# Stored times at the edges a loader could get wrong: no fraction, a short fraction, another offset, the first and
# the last representable instants.
TIMESTAMPS = (
    "2024-03-05 10:11:12.123456+00",
    "2024-03-05 10:11:12+00",
    "2024-03-05 10:11:12.5+00",
    "2020-01-01 10:00:00.000001+03",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
)


def read(loader: type, conn, timestamps=TIMESTAMPS) -> list:
    with conn.cursor() as cursor:
        cursor.adapters.register_loader("timestamptz", loader)
        values = ", ".join(f"'{text}'::timestamptz" for text in timestamps)
        return list(cursor.execute(f"SELECT {values}").fetchone())


def loaders(timezone):
    """This backend's loader and Django's, for `timezone`."""
    return (
        type("Loader", (dbpool.TimestamptzLoader,), {"timezone": timezone}),
        type("DjangoLoader", (BaseTzLoader,), {"timezone": timezone}),
    )


@pytest.fixture
def pg_connection():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL loader")
    params = connection.get_connection_params()
    params.pop("context")
    with psycopg.connect(**params, autocommit=True) as conn:
        yield conn


@pytest.mark.django_db
def test_the_connections_timestamps_are_read_by_the_c_loader_with_djangos_values(pg_connection):
    connection.ensure_connection()
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT)
    assert issubclass(loader, dbpool.TimestamptzLoader)
    assert loader.timezone is connection.timezone is datetime.UTC
    pg_connection.execute("SET TIME ZONE 'UTC'")  # as Django sets its connections
    ours, djangos = loaders(datetime.UTC)
    assert isinstance(ours(0, pg_connection).load.__self__, _psycopg.TimestamptzLoader)
    values = read(ours, pg_connection)
    assert values == read(djangos, pg_connection)
    assert [value.isoformat() for value in values] == [value.isoformat() for value in read(djangos, pg_connection)]
    assert {value.tzinfo for value in values} == {datetime.UTC}


@pytest.mark.django_db
def test_in_another_session_time_zone_djangos_loader_answers(pg_connection):
    pg_connection.execute("SET TIME ZONE 'Europe/Istanbul'")
    ours, djangos = loaders(datetime.UTC)
    assert ours(0, pg_connection).load.__func__ is BaseTzLoader.load
    within_range = TIMESTAMPS[:-1]  # the last instant is past year 9999 in Istanbul: an error for both
    assert read(ours, pg_connection, within_range) == read(djangos, pg_connection, within_range)
