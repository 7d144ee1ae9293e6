"""Django's PostgreSQL backend, with a cheaper check of pooled connections: DATABASES' ENGINE "apicore.postgresql"."""

import time

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

__all__ = ["DatabaseWrapper", "check_connection"]

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


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        if pool is not None and self.settings_dict["CONN_HEALTH_CHECKS"]:
            # Django gives psycopg_pool ConnectionPool.check_connection and has no setting for another check; the
            # pool keeps it in `_check` (psycopg-pool is pinned in pyproject.toml, and a test holds this).
            pool._check = check_connection
        return pool
