"""`events_delivery`: events per second from commit to a receiver on loopback, with two `omnitron worker` processes,
and the delay from each event's commit to its receipt.

A receiver (granian, one process, this file's `Receiver`) answers 200 at once and notes when each event arrived.
Events are written straight into the events table, in transactions of RATE / 50 events every 20 ms (the write path
is measured by `create` and `patch`; this measures delivery alone), and each event's commit time is noted. Two
phases: `steady`, RATE events/s for DURATION s, with the delays measured; `backlog`, BACKLOG events committed with
the workers stopped, then the time the workers take to deliver them all (their ceiling).
"""

import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

RATE = 3000
DURATION = 10
BACKLOG = 30_000
WORKERS = 2
# A customer as the API answers it: each event's `data`.
DATA = {
    "pk": 1,
    "id": 1,
    "channel": 3,
    "channel_code": "web-1",
    "erp_code": "ERP-000001",
    "email": "ayse.kaya@example.com",
    "first_name": "Ayşe",
    "last_name": "Kaya",
    "phone_number": "05321234567",
    "is_active": True,
    "attributes": {"color": "red", "size": {"eu": 38}},
    "extra_field": {"segment": "gold"},
    "email_allowed": True,
    "sms_allowed": False,
    "call_allowed": False,
    "date_joined": "2025-03-01T10:00:00Z",
    "gender": "female",
    "user_type": "registered",
    "date_of_birth": "1990-05-17",
    "created_date": "2025-03-01T10:00:00Z",
    "modified_date": "2026-12-05T10:00:00Z",
}
INSERT = """
INSERT INTO events_event (txid, type, record_id, data, changes, version, request_id, created_date)
SELECT pg_current_xact_id()::text::bigint, 'customer.updated', g, %s, %s, '"bench"', NULL, now()
FROM generate_series(1, %s) AS g RETURNING id
"""
WEBHOOK = """
from webhooks.models import Webhook
from webhooks.services import head
Webhook.objects.filter(description="bench").delete()
txid, pk = head()
print(Webhook.objects.create(url="{url}", events=["*"], description="bench", cursor_txid=txid, cursor_id=pk).pk)
"""


class Receiver:
    """An RSGI application: POST notes (Omnitron-Event-Id, time) and answers 200; GET answers what it noted and
    forgets it."""

    def __init__(self):
        self.received: list[tuple[int, float]] = []

    async def __rsgi__(self, scope, protocol):
        if scope.method == "POST":
            await protocol()
            self.received.append((int(scope.headers.get("omnitron-event-id")), time.time()))
            protocol.response_bytes(200, [("content-type", "application/json")], b'{"ok": true}')
        else:
            body, self.received = json.dumps(self.received).encode(), []
            protocol.response_bytes(200, [("content-type", "application/json")], body)


receiver = Receiver()


def start_receiver(port: int, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "granian", "--interface", "rsgi", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--no-ws", "--log-level", "warning", "delivery:receiver"]  # fmt: skip
    return subprocess.Popen(command, cwd=Path(__file__).parent, stdout=log, stderr=log)


def received(url: str) -> list[tuple[int, float]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def commit_events(conn, count: int, commits: dict[int, float]) -> None:
    data, changes = json.dumps(DATA), json.dumps({"first_name": {"old": "Ayse", "new": "Ayşe"}})
    with conn.transaction():
        ids = [row[0] for row in conn.execute(INSERT, [data, changes, count]).fetchall()]
    now = time.time()
    for pk in ids:
        commits[pk] = now


def collect(url: str, commits: dict, timeout: float) -> dict[int, float]:
    """Receipts of every committed event (first receipt of each), waiting at most `timeout` s for the last."""
    receipts: dict[int, float] = {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        for pk, at in received(url):
            receipts.setdefault(pk, at)
        if commits.keys() <= receipts.keys():
            break
        time.sleep(0.2)
    return receipts


def percentile(values: list[float], share: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))]


def measure(env: dict, database_url: str, var: Path, cpu_seconds, postgres_pids, children, free_port) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**env, "OMNITRON_WEBHOOK_HTTP_HOSTS": "127.0.0.1", "PYTHONPATH": str(Path(__file__).parent)}
    log = open(var / "delivery.log", "wb")  # kept open for the processes' whole life
    receiving = start_receiver(port, log)
    workers: list[subprocess.Popen] = []

    def start_workers():
        workers[:] = [
            subprocess.Popen([sys.executable, "-m", "omnitron", "worker"], env=env, stdout=log, stderr=log)
            for _ in range(WORKERS)
        ]

    def cpu() -> tuple[float, float, float]:
        """CPU seconds so far of the workers, the receiver (granian and its worker) and PostgreSQL."""
        return (
            cpu_seconds([str(worker.pid) for worker in workers]),
            cpu_seconds([str(receiving.pid), *children(receiving.pid)]),
            cpu_seconds(postgres_pids()),
        )

    def stop_workers():
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)

    try:
        for _ in range(100):
            try:
                received(url)
                break
            except OSError:
                time.sleep(0.1)
        webhook = subprocess.run([sys.executable, "-m", "omnitron", "shell", "-c", WEBHOOK.format(url=url)],
                                 env=env, check=True, capture_output=True, text=True).stdout.split()[-1]  # fmt: skip
        start_workers()
        time.sleep(2)  # listening
        commits: dict[int, float] = {}
        with psycopg.connect(database_url, autocommit=True) as conn:
            # Steady: RATE events/s in transactions every 20 ms.
            cpu_start = cpu()
            batch, started = RATE // 50, time.time()
            for tick in range(DURATION * 50):
                commit_events(conn, batch, commits)
                pause = started + (tick + 1) / 50 - time.time()
                if pause > 0:
                    time.sleep(pause)
            written = time.time() - started
            receipts = collect(url, commits, timeout=60)
            cpu_end = cpu()
            delays = [receipts[pk] - at for pk, at in commits.items() if pk in receipts]
            steady_events = len(commits)
            steady = {
                "events": steady_events,
                "committed_per_s": round(steady_events / written),
                "delivered": len(delays),
                "delivered_per_s": round(len(delays) / (max(receipts.values()) - started)) if delays else 0,
                "p50_ms": round(statistics.median(delays) * 1000, 1) if delays else None,
                "p99_ms": round(percentile(delays, 0.99) * 1000, 1) if delays else None,
                "max_ms": round(max(delays) * 1000, 1) if delays else None,
                "cpu_ms_per_event": {
                    name: round((end - start) * 1000 / max(len(delays), 1), 3)
                    for name, start, end in zip(("workers", "receiver", "postgres"), cpu_start, cpu_end, strict=True)
                },
            }
            # Backlog: BACKLOG events committed while no worker runs, then delivered as fast as two workers can.
            stop_workers()
            commits = {}
            for _ in range(BACKLOG // 1000):
                commit_events(conn, 1000, commits)
            start_workers()
            receipts = collect(url, commits, timeout=120)
            # From the first receipt: a worker process takes a second or two to start (Django's imports).
            spent = (max(receipts.values()) - min(receipts.values())) if len(receipts) > 1 else None
            backlog = {
                "events": len(commits),
                "delivered": len(receipts),
                "delivered_per_s": round(len(receipts) / spent) if spent else 0,
            }
            with conn.transaction():
                duplicates = conn.execute(
                    "SELECT count(*) FROM (SELECT event_id FROM webhooks_delivery WHERE webhook_id = %s "
                    "GROUP BY event_id HAVING count(*) > 1) d",
                    [int(webhook)],
                ).fetchone()[0]
        return {"rate": RATE, "workers": WORKERS, "steady": steady, "backlog": backlog, "duplicates": duplicates}
    finally:
        stop_workers()
        receiving.terminate()
        receiving.wait(timeout=30)
        log.close()
