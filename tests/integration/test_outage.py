"""A database outage under write load: the real server answers 503 JSON meanwhile and recovers by itself after.

The test brings its own PostgreSQL cluster (initdb under a temporary directory, on a free port), whatever
DATABASE_URL says, so it runs on both `make test` runs. `omnitron serve` (default workers and threads, each worker
with its psycopg pool) takes customers with unique channel codes from WRITERS client threads while the cluster is
stopped (`pg_ctl stop -m fast`, which ends transactions in flight) for a few seconds and started again.
The server is never restarted.

Asserted: every answer is 201 or 503 JSON (503 with Retry-After), or, for a write retried after a 503, 400 `unique`
when the earlier attempt was stored after all (its commit succeeded but the acknowledgement was lost with the
connection); every acknowledged write is stored exactly once, nothing else is stored; and writes succeed again
soon after the database is back.
"""

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.contract.conftest import OmnitronServer, _run, start_server


def _server_binaries() -> Path | None:
    """The newest PostgreSQL server installation (Debian's layout): /usr/lib/postgresql/<version>/bin."""
    found = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").exists()]
    found = [path for path in found if (path / "pg_ctl").exists() and path.parent.name.isdigit()]
    return max(found, key=lambda path: int(path.parent.name), default=None)


PG_BIN = _server_binaries()
pytestmark = pytest.mark.skipif(
    PG_BIN is None, reason="PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin"
)

OUTAGE = 6  # seconds the database is down
WRITERS = 4  # client threads, each writing one customer after another
RECOVERY_TIMEOUT = 20  # seconds for writes to succeed again once the database is back
REQUEST_TIMEOUT = 30
# Requests wait at most this long for a database connection before answering 503 (the default is 5 s): several
# 503s fit in a short outage.
SERVER_ENV = {"OMNITRON_DB_POOL_TIMEOUT": "2"}

# Run with `omnitron shell -c`: a superuser's token, so the test depends on no permission setup.
SUPERUSER = """
from django.contrib.auth import get_user_model
from knox.models import AuthToken
_, token = AuthToken.objects.create(user=get_user_model().objects.create_superuser("outage", password=None))
print(token)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/omnitron"

    def pg_ctl(self, *args: str) -> None:
        # initdb and postgres refuse to run as root.
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-t", "30", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self.pg_ctl("-l", str(self.root / "postgres.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "stop")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A new PostgreSQL cluster with an `omnitron` database; stopped and deleted afterwards, whatever happens."""
    # Not under pytest's tmp_path: its parents are private to the user running the test, postgres cannot enter.
    root = Path(tempfile.mkdtemp(prefix="omnitron-outage-"))
    as_postgres = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(root, _free_port())
    try:
        subprocess.run(
            [
                *as_postgres,
                str(PG_BIN / "initdb"),
                *("-D", str(root / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"),
                *("--no-sync", "--no-instructions"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE omnitron")
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Answer:
    at: float
    code: str  # the customer's channel_code
    status: int
    content_type: str
    body: object
    retry_after: str | None


@dataclass
class Writer:
    """POSTs customers one after another, each retried after a 503 until it has a definite answer."""

    server: OmnitronServer
    token: str
    prefix: str
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def post(self, code: str) -> Answer:
        body = {
            "email": f"{code}@example.com",
            "channel_code": code,
            "is_active": True,
            "email_allowed": False,
            "sms_allowed": False,
            "call_allowed": False,
        }
        conn = self.server.connection(REQUEST_TIMEOUT)
        try:
            conn.request(
                "POST",
                "/api/v1/customers/",
                body=json.dumps(body).encode(),
                headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        content_type = response.getheader("Content-Type", "")
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(time.monotonic(), code, response.status, content_type, parsed, response.getheader("Retry-After"))

    def run(self) -> None:
        number = 0
        deadline = time.monotonic() + 50  # the whole test stays within a minute, even if stop is never set
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                code = f"{self.prefix}{number}"
                number += 1
                while time.monotonic() < deadline:
                    answer = self.post(code)
                    self.answers.append(answer)
                    if answer.status != 503:
                        break
                    time.sleep(0.2)  # a real client would wait Retry-After; the test wants many samples
        except Exception as exc:  # the main thread reports it
            self.errors.append(repr(exc))


def acknowledged_since(writers: list[Writer], since: float) -> int:
    return sum(
        1 for writer in writers for answer in list(writer.answers) if answer.status == 201 and answer.at >= since
    )


def failed(writers: list[Writer]) -> bool:
    return any(writer.errors for writer in writers)


def wait_for(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def stored(cluster: Cluster) -> dict[str, int]:
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=omnitron") as conn:
        query = "SELECT channel_code, count(*) FROM customers_customer WHERE channel_code LIKE %s GROUP BY 1"
        rows = conn.execute(query, ["outage-%"]).fetchall()
    return dict(rows)


def test_writes_survive_a_database_outage(tmp_path):
    started = time.monotonic()
    with throwaway_cluster() as cluster, start_server(cluster.url, tmp_path, SERVER_ENV) as server:
        token = _run(["shell", "-c", SUPERUSER], server.env, tmp_path).strip().splitlines()[-1]
        writers = [Writer(server, token, f"outage-{number}-") for number in range(WRITERS)]
        threads = [threading.Thread(target=writer.run, daemon=True) for writer in writers]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: acknowledged_since(writers, 0) >= 20 or failed(writers), 15, "20 writes acknowledged")

            cluster.stop("fast")
            down_at = time.monotonic()
            wait_for(
                lambda: any(a.status == 503 for w in writers for a in list(w.answers)) or failed(writers), 15, "a 503"
            )
            # Reads answer the same way.
            read = http.client.HTTPConnection("127.0.0.1", urlsplit(server.url).port, timeout=REQUEST_TIMEOUT)
            read.request("GET", "/api/v1/customers/", headers={"Authorization": f"Token {token}"})
            response = read.getresponse()
            assert (response.status, response.getheader("Content-Type")) == (503, "application/json")
            assert json.loads(response.read())["code"] == "service_unavailable"
            assert response.getheader("Retry-After") == "5"
            read.close()
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))

            cluster.start()
            up_at = time.monotonic()
            recovery = wait_for(
                lambda: acknowledged_since(writers, up_at) >= 1 or failed(writers), RECOVERY_TIMEOUT, "a write after"
            )
            wait_for(lambda: acknowledged_since(writers, up_at) >= 20 or failed(writers), 15, "20 writes after")
        finally:
            for writer in writers:
                writer.stop.set()
            for thread in threads:
                thread.join(timeout=REQUEST_TIMEOUT + 5)
        assert not any(thread.is_alive() for thread in threads)
        assert [writer.errors for writer in writers] == [[]] * WRITERS

        answers = sorted((answer for writer in writers for answer in writer.answers), key=lambda answer: answer.at)
        in_outage = [a for a in answers if down_at <= a.at < up_at]
        print(
            f"{len(answers)} answers: {sum(a.status == 201 for a in answers)} x 201, "
            f"{sum(a.status == 503 for a in answers)} x 503 ({sum(a.status == 503 for a in in_outage)} in the "
            f"{up_at - down_at:.1f}s outage); writes again {recovery:.1f}s after the restart; "
            f"{time.monotonic() - started:.1f}s in all"
        )
        # Only JSON, never a 500 or an HTML page.
        for answer in answers:
            assert answer.content_type == "application/json", answer
            assert answer.status in {201, 400, 503}, answer
            if answer.status == 503:
                assert answer.body["code"] == "service_unavailable", answer
                assert answer.retry_after == "5", answer
        assert any(a.status == 503 for a in in_outage)

        final = {}  # each write's last answer: 201, or 400 when a retry found the write stored by an earlier attempt
        previous = {}
        for answer in answers:
            if answer.status == 400:
                # Only a retry may be refused, and only because the earlier attempt's commit went through.
                assert previous.get(answer.code) == 503, answer
                assert answer.body["code"] == "unique", answer
                assert set(answer.body) == {"channel_code", "code"}, answer
            previous[answer.code] = answer.status
            final[answer.code] = answer.status
        acknowledged = {code for code, status in final.items() if status == 201}
        stored_after_a_503 = {code for code, status in final.items() if status == 400}
        assert set(final.values()) <= {201, 400}, "a write left without a definite answer"

        rows = stored(cluster)
        assert {code for code, count in rows.items() if count != 1} == set()
        assert set(rows) == acknowledged | stored_after_a_503
        # A 503 then a 201 for the same write: the failed attempt left nothing behind.
        retried = {a.code for a in answers if a.status == 503} & acknowledged
        print(f"{len(retried)} writes stored on a retry after a 503; {len(stored_after_a_503)} stored despite a 503")

        # The same server (and the same workers) answered throughout: nothing was restarted.
        # gunicorn logs "Booting worker with pid: N", granian "Spawning worker-1 with PID: N", respawns included.
        boots = re.findall(
            r"Booting worker with pid|Spawning worker-\d+ with PID", server.log.read_text(errors="replace")
        )
        assert len(boots) == 2
    assert time.monotonic() - started < 60
