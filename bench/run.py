"""`make bench`: load demo data into PostgreSQL if absent, serve it in the production configuration, drive every
scenario with wrk, replay the SQL it sends with pgbench (the database's ceiling), check the plans of its reads, drive
Platformatic DB (the peer) on the same database, and write bench/results/ (JSON per run, latest.json, a Markdown
table, a chart). bench/README.md explains each step.

Every request carries `Authorization: Token <key>` as clients send it; nothing is switched off for the benchmark.
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import bulk
import ceiling
import delivery
import peer
import psycopg
import report

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results"
OMNITRON = [sys.executable, "-m", "omnitron"]
# The customers the create scenario adds (NEW_CUSTOMER's email and channel_code).
BENCH_CREATED = "channel_code LIKE 'bench-%' AND email LIKE 'bench%@example.com'"
NEW_CUSTOMER = (
    '{"email": "bench%d@example.com", "channel_code": "bench-%d", "is_active": true, '
    '"email_allowed": false, "sms_allowed": false, "call_allowed": false}'
)
# Requests are spread over several tokens of one user, as traffic from that many clients: a single token would reach
# the per-token rate limit (OMNITRON_RATE_LIMIT) within seconds, and the run would measure 429 answers.
TOKEN_SNIPPET = """
from django.contrib.auth import get_user_model
from knox.models import AuthToken
user = get_user_model().objects.filter(username="bench").first()
if user is None:
    user = get_user_model().objects.create_superuser("bench", "", None)
AuthToken.objects.filter(user=user).delete()
print(",".join(AuthToken.objects.create(user=user)[1] for _ in range({count})))
"""


def sample(database_url: str) -> dict:
    """Ids and filter values that exist, so every request finds rows the way real traffic does."""
    with psycopg.connect(database_url) as conn:

        def column(sql: str) -> list:
            return [row[0] for row in conn.execute(sql).fetchall() if row[0] is not None]

        def some(name: str, count: int) -> list:
            return column(
                f"SELECT {name} FROM customers_customer WHERE {name} IS NOT NULL ORDER BY random() LIMIT {count}"
            )

        return {
            "ids": some("id", 2000),
            # The local part of an email: a selective prefix (a few rows each), as the scenario is meant to be;
            # eight letters of a common name would match thousands.
            "email_prefixes": [email.split("@")[0] for email in some("email", 500)],
            "erp_codes": some("erp_code", 500),
            "phones": some("phone_number", 500),
            "colors": column("SELECT DISTINCT attributes->>'color' FROM customers_customer LIMIT 50"),
            "segments": column("SELECT DISTINCT extra_field->>'segment' FROM customers_customer LIMIT 50"),
            "dates": some("created_date", 500),
        }


def scenarios(values: dict, customers: int) -> dict[str, tuple[str, list[str], str | None]]:
    """name → (method, request paths, body)."""
    c = "/api/v1/customers/"
    ids = values["ids"]

    def pages(limit: int) -> range:
        return range(1, max(1, min(100, customers // limit)) + 1)

    return {
        "retrieve": ("GET", [f"{c}{i}/" for i in ids], None),
        "retrieve_detailed": ("GET", [f"{c}{i}/detailed/" for i in ids], None),
        "list": ("GET", [f"{c}?page={p}" for p in pages(10)], None),
        "list_email_startswith": ("GET", [f"{c}?email__startswith={e}" for e in values["email_prefixes"]], None),
        "list_erp_code": ("GET", [f"{c}?erp_code={e[-6:]}" for e in values["erp_codes"]], None),
        "list_attributes": ("GET", [f"{c}?attributes__color={v}" for v in values["colors"]], None),
        "list_extra_field": ("GET", [f"{c}?extra_field__segment={v}" for v in values["segments"]], None),
        "list_created_date": (
            "GET",
            [f"{c}?created_date__gte={d.date().isoformat()}T00:00:00Z" for d in values["dates"]],
            None,
        ),
        "list_pk_in": ("GET", [f"{c}?pk__in={','.join(map(str, ids[n : n + 50]))}" for n in range(0, 1000, 50)], None),
        "list_phone_number": ("GET", [f"{c}?phone_number={p}" for p in values["phones"]], None),
        "list_detailed_10": ("GET", [f"{c}detailed/?limit=10&page={p}" for p in pages(10)], None),
        "list_detailed_100": ("GET", [f"{c}detailed/?limit=100&page={p}" for p in pages(100)], None),
        "create": ("POST", [c], NEW_CUSTOMER),
        "patch": ("PATCH", [f"{c}{i}/" for i in ids], '{"first_name": "Bench%d"}'),
    }


def masked(text: str) -> str:
    """No database password in the results."""
    return re.sub(r"//([^:@/\s]+):[^@/\s]*@", r"//\1:***@", text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command: list[str], env: dict) -> str:
    return subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def children(master_pid: int) -> list[str]:
    """The process ids of the server's workers (the main process's children)."""
    path = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return path.read_text().split() if path.exists() else []


def workers_rss_mb(master_pid: int) -> list[float]:
    """Resident memory of each child of the server's main process (gunicorn's workers, the peer's Node workers)."""
    sizes = []
    for pid in children(master_pid):
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            if match:
                sizes.append(round(int(match.group(1)) / 1024, 1))
    return sizes


def wrk_command(args, url: str, duration: int) -> list[str]:
    return ["wrk", "-t", str(args.threads), "-c", str(args.concurrency), "-d", f"{duration}s",
            "--timeout", "10s", "-s", "bench/wrk.lua", url]  # fmt: skip


def connections_per_worker(master_pid: int, port: int) -> list[int]:
    """Open client connections on `port` held by each child of the server's main process, most first.

    A connection stays with the worker that accepted it (keep-alive), and a worker's Python runs on one core at a time:
    at 4 connections, 4 held by one of 2 workers leave the other core to the database and wrk alone.
    """
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # ESTABLISHED, server side
                established.add(fields[9])  # the socket's inode
    counts = []
    for pid in children(master_pid):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:  # the worker exited meanwhile
            continue
        counts.append(sum(link[len("socket:[") : -1] in established for link in links if link.startswith("socket:[")))
    return sorted(counts, reverse=True)


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> float:
    """User and system CPU time the processes have used so far (a process that has exited counts nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def postgres_pids() -> list[str]:
    """PostgreSQL's processes on this machine: the backends serving the requests and the server's own."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"postgres"):
                pids.append(entry.name)
        except OSError:
            continue
    return pids


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


class CPUAccount:
    """Where the machine's CPU went while a measurement ran, per request: the server's processes (its main
    process and workers), PostgreSQL's, and the load generator (wrk, a waited-for child of this process), and the
    share of the time the machine's CPUs were busy. With the machine busy nearly all the time, these say which
    side bounds the requests/s, and by how much."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid

    def _read(self) -> tuple[float, float, float, float, float]:
        load = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (
            cpu_seconds([str(self.server_pid), *children(self.server_pid)]),
            cpu_seconds(postgres_pids()),
            load.ru_utime + load.ru_stime,
            *machine_cpu(),
        )

    def __enter__(self):
        self.start = self._read()
        return self

    def __exit__(self, *exc):
        self.end = self._read()

    def per_request(self, requests: int) -> dict:
        server, postgres, load, busy, elapsed = (end - start for start, end in zip(self.start, self.end, strict=True))
        per_request = 1000 / max(requests, 1)
        return {
            "server": round(server * per_request, 3),
            "postgres": round(postgres * per_request, 3),
            "wrk": round(load * per_request, 3),
            "machine_busy": round(busy / elapsed, 3) if elapsed else None,
        }


def cpu_text(cpu: dict) -> str:
    busy = "-" if cpu["machine_busy"] is None else f"{cpu['machine_busy']:.0%}"
    return f"{cpu['server']} ms server, {cpu['postgres']} ms PostgreSQL per request, machine {busy} busy"


def wrk(url: str, method: str, paths: list[str], body: str | None, tokens: str, args, server_pid: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(paths) + "\n")
    env = {**os.environ, "BENCH_PATHS": f.name, "BENCH_TOKENS": tokens, "BENCH_METHOD": method}
    if body:
        env["BENCH_BODY"] = body
    if args.warmup:
        # The same requests, unmeasured: the scenario's rows and index pages reach the caches, as in steady traffic.
        subprocess.run(wrk_command(args, url, args.warmup), env=env, cwd=ROOT, check=True, capture_output=True)
    with (
        CPUAccount(server_pid) as cpu,
        subprocess.Popen(
            wrk_command(args, url, args.duration), env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
        ) as measured,
    ):
        time.sleep(min(2, args.duration / 2))  # wrk has opened its connections
        split = connections_per_worker(server_pid, int(url.rsplit(":", 1)[1]))
        output = measured.communicate()[0]
    if measured.returncode:
        raise subprocess.CalledProcessError(measured.returncode, measured.args, output)
    os.unlink(f.name)
    result = json.loads(re.search(r"BENCH_RESULT (\{.*\})", output).group(1))
    seconds = result["duration_us"] / 1e6
    return {
        "rps": round(result["requests"] / seconds, 1),
        "p50_ms": round(result["p50_us"] / 1000, 2),
        "p99_ms": round(result["p99_us"] / 1000, 2),
        "errors": result["errors"],
        "connections_per_worker": split,
        "cpu_ms_per_request": cpu.per_request(result["requests"]),
    }


def prepare(args) -> tuple[dict, str, int, int, dict]:
    """Database, demo data and tokens: (environment, tokens, customers, orders, sampled values)."""
    server_db, name = args.database_url.rsplit("/", 1)
    with psycopg.connect(f"{server_db}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": args.database_url, "DEBUG": "false", "OMNITRON_VAR_DIR": str(VAR)}
    run([*OMNITRON, "migrate", "--noinput", "-v0"], env)
    print(run([*OMNITRON, "seed_demo", "--if-empty", "--customers", str(args.customers),
               "--orders-per-customer", str(args.orders_per_customer), "--channels", "10"], env))  # fmt: skip
    # Demo data seeded before the service kept stored lines gets them, as an upgrade's `store_lines` gives them.
    print(run([*OMNITRON, "store_lines"], env))
    tokens = run([*OMNITRON, "shell", "-c", TOKEN_SNIPPET.format(count=args.tokens)], env).strip().splitlines()[-1]
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        # What earlier runs' create scenario added goes, so every run reads the demo data alone: those customers
        # carry the run's date and the highest ids, and would change the data and the sampled values run by run.
        created = f"SELECT id FROM customers_customer WHERE {BENCH_CREATED}"
        conn.execute(f"DELETE FROM customers_customerline WHERE customer_id IN ({created})")
        conn.execute(f"DELETE FROM customers_customer WHERE {BENCH_CREATED}")
        conn.execute("VACUUM ANALYZE customers_customer")
        customers = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
    return env, tokens, customers, orders, sample(args.database_url)


# The tables the scenarios read, with their indexes.
TABLES = ("customers_customer", "channels_channel", "orders_order", "orders_refund", "knox_authtoken", "auth_user")


def prewarm(database_url: str) -> None:
    """Reads the scenarios' tables and indexes into the operating system's cache (pg_prewarm), before each of the
    service, ceiling and peer phases: a production database's working set is cached, and this machine pages out
    memory left unread for a while, so a run would otherwise measure disk reads that depend on what ran before."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute(
            "SELECT pg_prewarm(c.oid::regclass, 'read') FROM pg_class c "
            "WHERE c.oid = ANY(%(tables)s::regclass[]) "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%(tables)s::regclass[]))",
            {"tables": list(TABLES)},
        )


def wait_for(url: str) -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # answering (401 without a token)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url}")


@contextlib.contextmanager
def service(env: dict, args):
    """`omnitron serve` in its production configuration while the block runs: (its URL, its main process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(VAR / "server.log", "wb") as log:
        command = [*OMNITRON, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
        try:
            wait_for(f"{url}/api/v1/active_user/")
            yield url, server
        finally:
            server.terminate()
            server.wait(timeout=30)


def measure_ceiling(scenario: str, method: str, requests: list[dict], args) -> dict:
    """The plans of a scenario's captured reads, and pgbench replaying its captured SQL."""
    statuses = sorted({r["status"] for r in requests})
    row = {"captured_statuses": statuses, "statements_per_request": len(requests[0]["statements"])}
    if method == "GET":
        row.update(ceiling.plans(args.database_url, requests))
    else:
        row.update(plan_nodes=None, seq_scan=None)
    row.update(ceiling.pgbench(args.database_url, requests, VAR / "ceiling" / scenario, args))
    print(f"{'':24} ceiling {row['ceiling_tps']} tps  seq scan {row['seq_scan']}  "
          f"plan {', '.join(row['plan_nodes'] or []) or '-'}  statuses {statuses}")  # fmt: skip
    return row


def measure_peer(scenario: str, url: str, request: tuple, process, args) -> dict:
    method, paths, body = request
    with peer.indexes(args.database_url, scenario):
        result = wrk(url, method, paths, body, "", args, process.pid)
    print(f"{'':24} peer    {result['rps']} req/s  p99 {result['p99_ms']} ms  errors {result['errors']}  "
          f"connections {result['connections_per_worker']}  CPU {cpu_text(result['cpu_ms_per_request'])}")  # fmt: skip
    return {
        "peer_rps": result["rps"],
        "peer_p50_ms": result["p50_ms"],
        "peer_p99_ms": result["p99_ms"],
        "peer_errors": result["errors"],
        "peer_connections_per_worker": result["connections_per_worker"],
        "peer_cpu_ms_per_request": result["cpu_ms_per_request"],
        "peer_worker_rss_mb": max(workers_rss_mb(process.pid), default=None),
    }


# The last commit before change history and events: `create` and `patch` are also measured on it, right after the
# same scenario on this code, for what history and events cost a write (issue 17's target: at most 15 %).
BEFORE_HISTORY = "3af8adb"
WRITES = ("create", "patch")


def before_history(env: dict) -> dict | None:
    """The environment that serves BEFORE_HISTORY's code (a git worktree under var/bench, on the same database, whose
    newer tables it ignores); None where there is no git history to check it out from."""
    tree = VAR / "before-history"
    if not (tree / "src").is_dir():
        checkout = ["git", "worktree", "add", "--force", "--detach", str(tree), BEFORE_HISTORY]
        if subprocess.run(checkout, cwd=ROOT, capture_output=True).returncode != 0:
            print(f"{BEFORE_HISTORY} cannot be checked out: writes are not compared with the code before history")
            return None
    return {**env, "PYTHONPATH": str(tree / "src")}


def measure(
    chosen: dict,
    tokens: str,
    env: dict,
    values: dict,
    customers: int,
    platformatic: str | None,
    args,
    baseline_env: dict | None = None,
) -> tuple[dict, list, str]:
    """Per scenario, back to back: the service under wrk, its captured SQL under pgbench (the database's ceiling)
    and the peer under wrk where it can express the scenario, so that a scenario's three figures come from the same
    minute or two of the machine (whose speed drifted by up to 2x within an hour). The scenarios' tables are read
    into the OS cache before each scenario. Answers (rows, every service worker's RSS after the run, the peer)."""
    skip = set(args.skip.split(",")) - {""}
    prewarm(args.database_url)
    captured = {} if "ceiling" in skip else ceiling.capture(env, tokens.split(",")[0], chosen, args.samples)
    described = "not run"
    rows = {}
    with contextlib.ExitStack() as running:
        url, server = running.enter_context(service(env, args))
        peers, peer_url, peer_process = {}, None, None
        if platformatic:
            described = (f"Platformatic DB {platformatic}, {args.workers} Node processes (node:cluster), "
                         "no authentication (its default), no migrations, same database")  # fmt: skip
            port = free_port()
            try:
                peer_process = running.enter_context(
                    peer.serve(args.database_url, port, args.workers, VAR / "platformatic.log")
                )
                peers, peer_url = peer.scenarios(values, customers), f"http://127.0.0.1:{port}"
            except (RuntimeError, subprocess.CalledProcessError) as error:
                described = f"Platformatic DB {platformatic} not measured: {error}"
                print(described)
        for scenario, (method, paths, body) in chosen.items():
            prewarm(args.database_url)
            row = wrk(url, method, paths, body, tokens, args, server.pid)
            row["worker_rss_mb"] = max(workers_rss_mb(server.pid), default=None)
            print(f"{scenario:24} service {row['rps']} req/s  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
                  f"errors {row['errors']}  connections {row['connections_per_worker']}  "
                  f"CPU {cpu_text(row['cpu_ms_per_request'])}")  # fmt: skip
            if scenario in WRITES and baseline_env is not None:
                with service(baseline_env, args) as (before_url, before_server):
                    before = wrk(before_url, method, paths, body, tokens, args, before_server.pid)
                row["before_history_rps"] = before["rps"]
                row["before_history_cpu_ms_per_request"] = before["cpu_ms_per_request"]
                print(f"{'':24} before history ({BEFORE_HISTORY}) {before['rps']} req/s  "
                      f"CPU {cpu_text(before['cpu_ms_per_request'])}")  # fmt: skip
            if scenario in captured:
                row.update(measure_ceiling(scenario, method, captured[scenario], args))
            if scenario in peers:
                row.update(measure_peer(scenario, peer_url, peers[scenario], peer_process, args))
            rows[scenario] = row
        rss = workers_rss_mb(server.pid)
    return rows, rss, described


def failures(row: dict) -> list[str]:
    reasons = []
    if row.get("seq_scan"):
        reasons.append("sequential scan on customers_customer")
    if row.get("errors"):
        reasons.append(f"{row['errors']} errors or non-2xx answers")
    if row.get("peer_errors"):
        reasons.append(f"peer: {row['peer_errors']} errors or non-2xx answers")
    if row.get("ceiling_error"):
        reasons.append(f"pgbench: {row['ceiling_error']}")
    if any(status >= 300 for status in row.get("captured_statuses", [])):
        reasons.append(f"captured requests answered {row['captured_statuses']}")
    return reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                        "postgres://postgres@127.0.0.1:5432/omnitron_bench"))  # fmt: skip
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured seconds of wrk before each scenario")
    parser.add_argument("--ceiling-duration", type=int, help="seconds of pgbench per scenario (default: --duration)")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="gunicorn workers, and as many Platformatic DB processes")  # fmt: skip
    parser.add_argument("--tokens", type=int, default=100, help="tokens the requests are spread over")
    parser.add_argument("--samples", type=int, default=ceiling.SAMPLES, help="captured requests per scenario")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--skip", default="", help="comma-separated steps to leave out: ceiling, peer, delivery, "
                        "before-history, bulk (import_1m, export_1m)")  # fmt: skip
    args = parser.parse_args()
    args.ceiling_duration = args.ceiling_duration or args.duration
    for tool in ("wrk", "pgbench", "node", "npm"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed; `make bench` installs it (see bench/README.md)")
    VAR.mkdir(parents=True, exist_ok=True)
    skip = set(args.skip.split(",")) - {""}
    platformatic = None if "peer" in skip else peer.install()

    env, tokens, customers, orders, values = prepare(args)
    chosen = scenarios(values, customers)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    baseline_env = None if "before-history" in skip or not set(WRITES) & set(chosen) else before_history(env)
    measured, rss, described = measure(chosen, tokens, env, values, customers, platformatic, args, baseline_env)
    rows = {}
    for scenario in chosen:
        row = {"ceiling_tps": None, "peer_rps": None, "seq_scan": None, "plan_nodes": None, **measured[scenario]}
        row["failed"] = failures(row)
        rows[scenario] = row

    deliveries = None
    if "delivery" not in skip and (not args.only or "events_delivery" in args.only.split(",")):
        deliveries = delivery.measure(env, args.database_url, VAR, cpu_seconds, postgres_pids, children, free_port)
    imported = exported = None
    if "bulk" not in skip and (not args.only or "import_1m" in args.only.split(",")):
        imported = bulk.measure_import(env, args.database_url, VAR / "bulk")
    if "bulk" not in skip and (not args.only or "export_1m" in args.only.split(",")):
        with service(env, args) as (url, _):
            exported = bulk.measure_export(env, args.database_url, VAR / "bulk", url, tokens.split(",")[0])

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    url = masked(args.database_url)
    summary = {
        "date": now.isoformat(),
        "customers": customers,
        "orders": orders,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "ceiling_duration_s": args.ceiling_duration,
        "workers": args.workers,
        "tokens": args.tokens,
        "machine": report.machine(),
        "versions": report.versions(args.database_url, platformatic),
        "peer": described,
        "peer_requests": {} if platformatic is None else peer.NOTES,
        "commands": {
            "bench": masked(" ".join(["bench/run.py", *sys.argv[1:]])),
            "wrk (per scenario)": " ".join(wrk_command(args, "http://127.0.0.1:<port>", args.duration)),
            "wrk warm-up (per scenario, unmeasured)": " ".join(
                wrk_command(args, "http://127.0.0.1:<port>", args.warmup)
            )
            if args.warmup
            else "none",
            "pgbench (per scenario)": "pgbench -n -M prepared (reads; writes -M simple) "
            f"-c {args.concurrency} -j {args.threads} -T {args.ceiling_duration} "
            f"-D bench_seq=0 -D bench_run=<now> -f var/bench/ceiling/<scenario>/request00.sql ... {url}",
            "peer": "node bench/platformatic/cluster.mjs (PLT_BENCH_WORKERS="
            f"{args.workers}, config bench/platformatic/platformatic.json)",
        },
        "workers_rss_mb": rss,
        "scenarios": rows,
        "events_delivery": deliveries,
        "import_1m": imported,
        "export_1m": exported,
    }
    summary["targets"] = report.targets(summary)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS / f"{stamp}.json", RESULTS / "latest.json"):
        path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    for path in (RESULTS / f"{stamp}.md", RESULTS / "latest.md"):
        path.write_text(report.markdown(summary))
    report.chart(summary, [RESULTS / f"{stamp}.png", RESULTS / "latest.png"])
    for t in summary["targets"].values():
        print(f"{ {True: 'met', False: 'MISSED', None: 'not measured'}[t['met']]:>12}  {t['target']}: {t['measured']}")
    print(f"results: bench/results/{stamp}.{{json,md,png}} and latest.{{json,md,png}}")


if __name__ == "__main__":
    main()
