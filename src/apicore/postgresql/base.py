"""Django's PostgreSQL backend, with a cheaper check of pooled connections and timestamps read by psycopg's C
loader: DATABASES' ENGINE "apicore.postgresql"."""

import functools
import time

from django.db.backends.postgresql import base, psycopg_any
from psycopg import adapt
from psycopg._cmodule import _psycopg
from psycopg_pool import ConnectionPool

__all__ = ["DatabaseWrapper", "TimestamptzLoader", "check_connection"]

# A connection checked this recently is handed out unchecked: the check is a round trip to the database, and on
# every request it was as much work for the database as a record's read. A connection that broke within the window
# (the server restarted) fails its request with a 503 and the pool discards it. HikariCP's aliveBypassWindowMs,
# 500 ms by default, is the same rule.
BYPASS_SECONDS = 0.5

clock = time.monotonic  # tests replace it


def check_connection(conn) -> None:
    now = clock()
    if now - getattr(conn, "_omnitron_checked_at", float("-inf")) < BYPASS_SECONDS:
        return
    ConnectionPool.check_connection(conn)
    conn._omnitron_checked_at = now


class TimestamptzLoader(psycopg_any.BaseTzLoader):
    """Django's timestamptz loader (psycopg's Python parser, then `tzinfo=timezone`), answered by psycopg's C
    parser where that is the same value: when the session's time zone is the `timezone` object itself (UTC, as
    Django sets it), the C loader's datetime already carries it. A page of 100 detailed customers reads 300
    timestamps; the Python parser was an eighth of its time, the C one about a twentieth of that.
    """

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        # psycopg's Python loader keeps the session's time zone in `_timezone` (psycopg is pinned; a test holds it).
        if _psycopg is not None and getattr(self, "_timezone", None) is self.timezone:
            # The C loader's own `load`: psycopg calls it with no Python frame in between.
            self.load = _psycopg.TimestamptzLoader(oid, context).load


@functools.cache
def _adapters(template: adapt.AdaptersMap, timezone) -> adapt.AdaptersMap:
    """Django's adapters for `timezone` (its shared template, copied, not changed), with the loader above."""
    adapters = adapt.AdaptersMap(template)
    adapters.register_loader("timestamptz", type("TimestamptzLoader", (TimestamptzLoader,), {"timezone": timezone}))
    return adapters


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        # Django asks for them on every request, taking a connection from the pool: one map per template and zone.
        params = super().get_connection_params()
        params["context"] = _adapters(params["context"], self.timezone)
        return params

    @property
    def pool(self):
        pool = super().pool
        if pool is not None and self.settings_dict["CONN_HEALTH_CHECKS"]:
            # Django gives psycopg_pool ConnectionPool.check_connection and has no setting for another check; the
            # pool keeps it in `_check` (psycopg-pool is pinned in pyproject.toml, and a test holds this).
            pool._check = check_connection
        return pool
