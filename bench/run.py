"""`make bench`: load demo data into PostgreSQL if absent, serve it in the production configuration, drive every
scenario with wrk, and write bench/results/ (JSON per run, latest.json, a Markdown table).

Every request carries `Authorization: Token <key>` as clients send it; nothing is switched off for the benchmark.
The reference measurements of the scale issue (pgbench on the captured SQL, Platformatic DB) are not part of this
driver yet: their fields are written as null.
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
OMNITRON = [sys.executable, "-m", "omnitron"]
NEW_CUSTOMER = (
    '{"email": "bench%d@example.com", "channel_code": "bench-%d", "is_active": true, '
    '"email_allowed": false, "sms_allowed": false, "call_allowed": false}'
)
TOKEN_SNIPPET = """
from django.contrib.auth import get_user_model
from knox.models import AuthToken
user = get_user_model().objects.filter(username="bench").first()
if user is None:
    user = get_user_model().objects.create_superuser("bench", "", None)
print(AuthToken.objects.create(user=user)[1])
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
            "emails": some("email", 500),
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
        "list_email_startswith": ("GET", [f"{c}?email__startswith={e[:8]}" for e in values["emails"]], None),
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command: list[str], env: dict) -> str:
    return subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def worker_rss_mb(master_pid: int) -> float | None:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    if not children.exists():
        return None
    sizes = []
    for pid in children.read_text().split():
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            if match:
                sizes.append(int(match.group(1)) / 1024)
    return round(max(sizes), 1) if sizes else None


def wrk(url: str, method: str, paths: list[str], body: str | None, token: str, args) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(paths) + "\n")
    env = {**os.environ, "BENCH_PATHS": f.name, "BENCH_TOKEN": token, "BENCH_METHOD": method}
    if body:
        env["BENCH_BODY"] = body
    command = ["wrk", "-t", str(args.threads), "-c", str(args.concurrency), "-d", f"{args.duration}s",
               "--timeout", "10s", "-s", str(ROOT / "bench" / "wrk.lua"), url]  # fmt: skip
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    os.unlink(f.name)
    result = json.loads(re.search(r"BENCH_RESULT (\{.*\})", output).group(1))
    seconds = result["duration_us"] / 1e6
    return {
        "rps": round(result["requests"] / seconds, 1),
        "p50_ms": round(result["p50_us"] / 1000, 2),
        "p99_ms": round(result["p99_us"] / 1000, 2),
        "errors": result["errors"],
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Benchmark {report['date']}",
        "",
        f"{report['customers']} customers, {report['orders']} orders, concurrency {report['concurrency']}, "
        f"{report['duration_s']} s per scenario. Machine: {report['machine']}. Command: `{report['command']}`.",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | errors | worker RSS MB | ceiling tps | peer requests/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["scenarios"].items():
        lines.append(
            f"| {name} | {s['rps']} | {s['p50_ms']} | {s['p99_ms']} | {s['errors']} | {s['worker_rss_mb']} "
            f"| {s['ceiling_tps']} | {s['peer_rps']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                        "postgres://postgres@127.0.0.1:5432/omnitron_bench"))  # fmt: skip
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20, help="seconds per scenario")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", help="comma-separated scenario names")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk); `make bench` installs it")

    server_db, name = args.database_url.rsplit("/", 1)
    with psycopg.connect(f"{server_db}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": args.database_url, "DEBUG": "false",
           "OMNITRON_VAR_DIR": str(ROOT / "var" / "bench")}  # fmt: skip
    run([*OMNITRON, "migrate", "--noinput", "-v0"], env)
    print(run([*OMNITRON, "seed_demo", "--if-empty", "--customers", str(args.customers),
               "--orders-per-customer", str(args.orders_per_customer), "--channels", "10"], env))  # fmt: skip
    token = run([*OMNITRON, "shell", "-c", TOKEN_SNIPPET], env).strip().splitlines()[-1]
    with psycopg.connect(args.database_url) as conn:
        customers = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
    chosen = scenarios(sample(args.database_url), customers)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "var" / "bench" / "server.log", "wb")  # open for the server's lifetime
    server = subprocess.Popen([*OMNITRON, "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", str(args.workers)], env=env, cwd=ROOT, stdout=log, stderr=log)  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/api/v1/active_user/", timeout=1)
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.2)
        report_scenarios = {}
        for scenario, (method, paths, body) in chosen.items():
            result = wrk(url, method, paths, body, token, args)
            result.update(worker_rss_mb=worker_rss_mb(server.pid), ceiling_tps=None, peer_rps=None, seq_scan=None)
            report_scenarios[scenario] = result
            print(f"{scenario:24} {result['rps']:>9} req/s  p50 {result['p50_ms']:>7} ms  p99 {result['p99_ms']:>7} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = {
        "date": now.isoformat(),
        "customers": customers,
        "orders": orders,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join(["bench/run.py", *sys.argv[1:]]),
        "scenarios": report_scenarios,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS / f"{stamp}.json", RESULTS / "latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{stamp}.md").write_text(markdown(report))
    print(f"results: {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
