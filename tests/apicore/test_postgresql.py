"""apicore.postgresql: the pool's connection check is skipped for a connection checked within the bypass window, and
only then."""

import pytest
from django.db import connection
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
