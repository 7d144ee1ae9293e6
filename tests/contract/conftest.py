"""A real Omnitron server for the contract test: its own database, seeded, served by `omnitron serve`.

Nothing here uses pytest-django's test database: the server runs in subprocesses against a throwaway
database (a fresh PostgreSQL database when DATABASE_URL points at PostgreSQL, else a SQLite file).
"""

import contextlib
import http.client
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

OMNITRON = [sys.executable, "-m", "omnitron"]
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}
STARTUP_TIMEOUT = 60  # seconds for the server to answer its first request
# The HTTP server `omnitron serve` runs for the live-server tests (its default, granian, unless OMNITRON_SERVER says
# gunicorn), as the command itself does.
SERVER = os.environ.get("OMNITRON_SERVER") or "granian"

# Run with `omnitron shell -c`: an API user and its token, channels, and customers with and without orders and
# refunds (for the detailed views). Prints what it created as JSON on its last line.
SEED = """
import datetime, json
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from knox.models import AuthToken
from channels.models import Channel
from customers.models import Customer
from orders.models import Order, Refund

user = get_user_model().objects.create_user("contract", password=None)
# Not a superuser: an integration's token, with every permission on the API's models.
user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["channels", "customers", "orders"]))
_, token = AuthToken.objects.create(user=user)

web = Channel.objects.create(
    name="Web shop", catalog=1, channel_type="web", conf={"currency": "TRY"}, category_tree="12",
    schema={"loyalty_id": {"key": "loyalty_id", "label": "Loyalty", "required": False, "data_type": "text"}},
)
market = Channel.objects.create(name="Marketplace", catalog=2, channel_type="sales_channel", conf={})
now = timezone.now()
customers = [
    Customer.objects.create(
        channel=web, channel_code="web-1", email="john.doe@example.com", first_name="John", last_name="Doe",
        phone_number="05556667788", is_active=True, erp_code="ERP-1", attributes={"size": {"eu": 42}, "vip": True},
        extra_field={"source": "import"}, email_allowed=True, sms_allowed=True, call_allowed=False,
        date_joined=now - datetime.timedelta(days=400), gender="male", user_type="registered",
        date_of_birth=datetime.date(1990, 5, 17),
    ),
    Customer.objects.create(
        channel=web, channel_code="web-2", email="jane.roe@example.com", first_name="Jane", last_name="Roe",
        is_active=True, gender="female", user_type="guest", localized_attributes={"tr": {"nick": "jr"}},
    ),
    Customer.objects.create(channel=market, channel_code="mk-1", email="ali@example.com", is_active=False),
    Customer.objects.create(channel=None, channel_code="free-1", email="nochannel@example.com", is_active=True),
    Customer.objects.create(channel=market, channel_code="mk-2", email="nobody@example.com", is_active=True),
]
john, jane, ali = customers[:3]
first = Order.objects.create(
    number="W-1", channel=web, customer=john, date_placed=now, currency="TRY", amount=Decimal("250.00"),
    discount_amount=Decimal("25.00"), shipping_amount=Decimal("9.90"), status="550",
)
Refund.objects.create(order=first, amount=Decimal("50.00"), reason="damaged")
Refund.objects.create(order=first, amount=Decimal("20.00"))
Order.objects.create(number="W-2", channel=web, customer=john, date_placed=now, currency="TRY", amount=Decimal("99.99"))
Order.objects.create(number="W-3", channel=web, customer=jane, date_placed=now, currency="TRY", amount=Decimal("10.00"))
second = Order.objects.create(
    number="M-1", channel=market, customer=ali, date_placed=now, currency="TRY", amount=Decimal("1000.00"), status="600"
)
Refund.objects.create(order=second, amount=Decimal("1000.00"))
print(json.dumps({"token": token, "customers": [c.pk for c in customers], "channels": [web.pk, market.pk]}))
"""


@dataclass
class OmnitronServer:
    url: str
    token: str
    seeded: dict
    log: Path
    env: dict
    tls: "TLSFiles | None" = None
    server: str = SERVER  # "gunicorn" or "granian"

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        """A new connection to the server: HTTPS trusting its certificate's CA when it serves HTTPS."""
        address = urlsplit(self.url)
        if self.tls is None:
            return http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
        context = ssl.create_default_context(cafile=str(self.tls.cafile))
        return http.client.HTTPSConnection(address.hostname, address.port, timeout=timeout, context=context)


def send_early_answered(send) -> None:
    """Runs `send` (a connection's request or send), tolerating the server's closing before the body is all sent:
    a server refuses an oversized body unread, answers at once and closes (RFC 9112 §9.6); how much of the body
    the client sent by then depends on timing (seen under load), and the answer is read all the same."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        send()


@dataclass
class TLSFiles:
    """A server certificate for 127.0.0.1 and localhost, and the throwaway CA that signed it (for clients to trust)."""

    certfile: Path
    keyfile: Path
    cafile: Path

    @classmethod
    def make(cls, directory: Path) -> "TLSFiles":
        import trustme

        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        files = cls(directory / "server.pem", directory / "server.key", directory / "ca.pem")
        server.cert_chain_pems[0].write_to_path(str(files.certfile))
        for pem in server.cert_chain_pems[1:]:
            pem.write_to_path(str(files.certfile), append=True)
        server.private_key_pem.write_to_path(str(files.keyfile))
        ca.cert_pem.write_to_path(str(files.cafile))
        return files


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], env: dict, cwd: Path) -> str:
    result = subprocess.run([*OMNITRON, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"`omnitron {' '.join(args[:2])}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def contract_database_url(tmp_path_factory):
    with throwaway_database(tmp_path_factory) as url:
        yield url


@contextlib.contextmanager
def throwaway_database(tmp_path_factory) -> Iterator[str]:
    """A fresh, empty database for the server; dropped afterwards (PostgreSQL) or left in a tmp dir (SQLite)."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        yield f"sqlite:///{tmp_path_factory.mktemp('contract-db') / 'omnitron.sqlite3'}"
        return

    import psycopg
    from psycopg import sql

    name = f"omnitron_contract_{secrets.token_hex(6)}"
    server = {
        "host": parts.hostname or None,
        "port": parts.port or None,
        "user": parts.username or None,
        "password": parts.password or None,
    }

    def connect():
        # The maintenance database, else the one DATABASE_URL names: either lets us create and drop others.
        try:
            return psycopg.connect(dbname="postgres", autocommit=True, **server)
        except psycopg.OperationalError:
            return psycopg.connect(dbname=parts.path.lstrip("/") or None, autocommit=True, **server)

    with connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def omnitron_server(contract_database_url, tmp_path_factory):
    with start_server(contract_database_url, tmp_path_factory.mktemp("contract-server")) as server:
        yield server


@contextlib.contextmanager
def start_server(
    database_url: str,
    workdir: Path,
    extra_env: dict | None = None,
    tls: TLSFiles | None = None,
    server: str = SERVER,
    options: tuple[str, ...] = (),
) -> Iterator[OmnitronServer]:
    """`omnitron serve` on a free port over a migrated, seeded database; terminated afterwards, whatever happens.

    `extra_env` (e.g. OMNITRON_LIST_FORMAT=paginated) is applied last, over the cleaned environment. With `tls`,
    the server answers HTTPS only (`--certfile`, `--keyfile`). `server` is the HTTP server (`--server`); `options`
    are more of `omnitron serve`'s.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"OMNITRON_LIST_FORMAT", "WEB_CONCURRENCY", "HOST", "PORT"}
    }
    env.update(
        DATABASE_URL=database_url,
        OMNITRON_VAR_DIR=str(workdir / "var"),
        DJANGO_SETTINGS_MODULE="omnitron.settings",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    _run(["migrate", "--noinput"], env, workdir)
    seeded = json.loads(_run(["shell", "-c", SEED], env, workdir).strip().splitlines()[-1])
    token = seeded.pop("token")

    port = _free_port()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    log = workdir / "server.log"
    serve = [*OMNITRON, "serve", "--server", server, "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
             *options]  # fmt: skip
    if tls:
        serve += ["--certfile", str(tls.certfile), "--keyfile", str(tls.keyfile)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            serve,
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(process, f"{url}/api/v1/customers/", log, tls)
        yield OmnitronServer(url=url, token=token, seeded=seeded, log=log, env=env, tls=tls, server=server)
    finally:
        process.terminate()  # the server's main process stops its workers on SIGTERM, gunicorn's and granian's
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_up(process: subprocess.Popen, url: str, log: Path, tls: TLSFiles | None = None) -> None:
    context = ssl.create_default_context(cafile=str(tls.cafile)) if tls else None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(url, timeout=2, context=context)
            return
        except urllib.error.HTTPError:  # 401 without a token: it answers
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer within {STARTUP_TIMEOUT}s:\n{log.read_text(errors='replace')}")


# Fixed for reproducible CI runs; the environment can vary an exploratory run.
SCHEMATHESIS_SEED = int(os.environ.get("OMNITRON_CONTRACT_SEED", "20240129"))


def run_schemathesis(server: OmnitronServer, location: str, options: list[str], cwd: Path, timeout: int) -> None:
    """Run schemathesis against `server` with the options every contract run shares; fail with its report.

    It runs from an empty directory (`cwd`) so that no schemathesis.toml of the project or the caller changes it.
    """
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", location,
        "--header", f"Authorization: Token {server.token}",
        *options,
        "--seed", str(SCHEMATHESIS_SEED),
        "--generation-allow-x00", "true",
        "--generation-database", "none",
        # One: hypothesis describes filters with ast.parse, which CPython 3.11 cannot run in two threads at once
        # (SystemError "AST constructor recursion depth mismatch", reported by schemathesis as a runtime error).
        "--workers", "1",
        "--request-timeout", "30",
        "--no-color",
        "--output-sanitize", "false",
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    output = f"{result.stdout}\n{result.stderr}"
    print(f"schemathesis took {time.monotonic() - started:.0f}s")
    if result.returncode != 0:
        # Tracebacks of 500s are in the server's log (without its access log); the failures are in the assertion.
        server_log = server.log.read_text(errors="replace").splitlines()
        errors = [line for line in server_log if not line.startswith("127.0.0.1 - ")]
        print("--- server log without access lines (last 300) ---", *errors[-300:], sep="\n")
    else:
        print(output)
    assert result.returncode == 0, f"schemathesis found failures (exit {result.returncode}):\n{output}"
