"""The peer: Platformatic DB, serving the same database through its generated REST API, for the scenarios it can
express. Installed from the npm registry under var/bench/platformatic (not committed); its configuration is
bench/platformatic/platformatic.json, started by bench/platformatic/cluster.mjs with as many processes as the
service has gunicorn workers.

What it is and is not, so the comparison stays honest:
- No authentication: Platformatic DB's default. The service authenticates every request with a token.
- No migrations: the configuration has no `migrations` section, so it only reads the schema the service made.
- Its list routes have no default order and count only when asked: the requests ask for the service's page
  (`limit=10`, `orderby.id=asc`) and the total (`totalCount=true`, an exact count(*) as X-Total-Count, where the
  service stops counting at OMNITRON_EXACT_COUNT_LIMIT rows and estimates past it).
- `where.email.like=<prefix>%` is case-sensitive LIKE on the email column, where the service's `email__startswith`
  compares upper-cased values (served by its upper(email) index); `_` in a prefix is a LIKE wildcard there. No index
  of the service serves that LIKE, so for the peer's run only an `email text_pattern_ops` index is built (and dropped
  after): the peer is measured as its user would run it, not scanning a million rows.
"""

import contextlib
import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path

import psycopg

__all__ = ["NOTES", "VERSION", "indexes", "install", "scenarios", "serve"]

VERSION = "2.61.0"
HERE = Path(__file__).resolve().parent
PREFIX = HERE.parent / "var" / "bench" / "platformatic"
ROUTE = "/customersCustomer/"  # Platformatic's name for the table customers_customer
NOTES = {
    "retrieve": f"GET {ROUTE}<id>",
    "list": f"GET {ROUTE}?limit=10&offset=<10 (page - 1)>&orderby.id=asc&totalCount=true (exact count(*))",
    "list_email_startswith": f"GET {ROUTE}?where.email.like=<prefix>%&limit=10&orderby.id=asc&totalCount=true",
    "list_created_date": f"GET {ROUTE}?where.createdDate.gte=<date>T00:00:00Z&limit=10&orderby.id=asc&totalCount=true",
    "list_pk_in": f"GET {ROUTE}?where.id.in=<50 ids>&limit=10&orderby.id=asc&totalCount=true",
    "list_phone_number": f"GET {ROUTE}?where.phoneNumber.eq=<number>&limit=10&orderby.id=asc&totalCount=true",
}


def installed_version() -> str | None:
    package = PREFIX / "node_modules" / "@platformatic" / "db" / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() else None


def install() -> str:
    if installed_version() != VERSION:
        PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(PREFIX), "--save-exact", "--no-audit", "--no-fund",
                        f"@platformatic/db@{VERSION}"], check=True, capture_output=True)  # fmt: skip
    return installed_version()


def scenarios(values: dict, customers: int) -> dict[str, tuple[str, list[str], None]]:
    """The service's scenarios that Platformatic DB can express, on the same sampled ids and values."""
    page = "limit=10&orderby.id=asc&totalCount=true"
    pages = range(max(1, min(100, customers // 10)))
    ids = values["ids"]
    return {
        "retrieve": ("GET", [f"{ROUTE}{i}" for i in ids], None),
        "list": ("GET", [f"{ROUTE}?{page}&offset={p * 10}" for p in pages], None),
        "list_email_startswith": (
            "GET",
            [
                f"{ROUTE}?where.email.like={urllib.parse.quote(e + '%', safe='')}&{page}"
                for e in values["email_prefixes"]
            ],
            None,
        ),
        "list_created_date": (
            "GET",
            [f"{ROUTE}?where.createdDate.gte={d.date().isoformat()}T00:00:00Z&{page}" for d in values["dates"]],
            None,
        ),
        "list_pk_in": (
            "GET",
            [f"{ROUTE}?where.id.in={','.join(map(str, ids[n : n + 50]))}&{page}" for n in range(0, 1000, 50)],
            None,
        ),
        "list_phone_number": (
            "GET",
            [f"{ROUTE}?where.phoneNumber.eq={urllib.parse.quote(p, safe='')}&{page}" for p in values["phones"]],
            None,
        ),
    }


@contextlib.contextmanager
def serve(database_url: str, port: int, workers: int, log_path: Path):
    """Platformatic DB on 127.0.0.1:port while the block runs; yields the primary process (its children serve)."""
    env = {**os.environ, "PLT_DATABASE_URL": database_url, "PLT_SERVER_PORT": str(port),
           "PLT_BENCH_WORKERS": str(workers), "PLT_BENCH_PREFIX": str(PREFIX),
           "PLT_BENCH_CONFIG": str(HERE / "platformatic" / "platformatic.json")}  # fmt: skip
    with open(log_path, "wb") as log:
        launcher = str(HERE / "platformatic" / "cluster.mjs")
        process = subprocess.Popen(["node", launcher], env=env, stdout=log, stderr=log)
        try:
            for _ in range(300):
                if process.poll() is not None:
                    raise RuntimeError(f"Platformatic DB stopped at startup, see {log_path}")
                if b"workers listening" in log_path.read_bytes():
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"Platformatic DB did not start within 60 s, see {log_path}")
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextlib.contextmanager
def indexes(database_url: str, scenario: str):
    """The index a Platformatic user would add for its email prefix filter, present only while the peer serves that
    scenario (the service never has it)."""
    if scenario != "list_email_startswith":
        yield
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX IF NOT EXISTS bench_peer_email_like ON customers_customer (email text_pattern_ops)")
        conn.execute("ANALYZE customers_customer")
    try:
        yield
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP INDEX IF EXISTS bench_peer_email_like")
