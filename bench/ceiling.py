"""The database's side of each scenario: the SQL the service sends, replayed by pgbench, and the plans of its reads.

`capture()` records every statement of ~20 sampled requests per scenario (bench/capture.py, in-process through
Django). `pgbench()` writes each request's statements as one pgbench script and runs them all at the benchmark's
concurrency: one script run is one request, so pgbench's tps is the most requests/s the database could serve for
that scenario with no Python in the way. `plans()` EXPLAINs the captured reads of customers_customer.
"""

import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

__all__ = ["SAMPLES", "capture", "pgbench", "plans"]

HERE = Path(__file__).resolve().parent
SAMPLES = 20
# The driver makes a write unique per request by replacing "%d" in its body (a new customer's channel_code and
# email must not collide). A captured script would repeat the capture's value and fail on the unique constraint from
# its second run on, so that one value, and only it, becomes a pgbench variable that is new in every transaction.
UNIQUE_HEADER = "\\set bench_seq :bench_seq + 1\n\\set bench_unique :bench_run + :client_id * 100000000 + :bench_seq\n"
# pgbench substitutes `:name` everywhere in a statement, quoted literals included, when the variable exists.
PGBENCH_VARIABLE = re.compile(r":(client_id|default_seed|random_seed|scale|bench_\w+)\b")
# A read: Django's SELECT, or the read path's one statement (WITH ... SELECT).
READS_CUSTOMERS = re.compile(r'^\s*(SELECT|WITH)\b.*\b(FROM|JOIN) "customers_customer"', re.IGNORECASE | re.DOTALL)


def capture(env: dict, token: str, chosen: dict, samples: int = SAMPLES) -> dict:
    """scenario → [{"status", "statements", "marker"}]: the statements of `samples` requests drawn from its paths."""
    rng = random.Random(0)
    base = int(time.time()) * 10**9 + 9 * 10**8  # above every pgbench client's range (see UNIQUE_HEADER)
    requests, markers = {}, {}
    for name, (method, paths, body) in chosen.items():
        picked = rng.sample(paths, samples) if len(paths) >= samples else rng.choices(paths, k=samples)
        markers[name] = [str(base + i) for i in range(len(picked))]
        requests[name] = [
            [method, path, body.replace("%d", marker) if body else None]
            for path, marker in zip(picked, markers[name], strict=True)
        ]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        json.dump({"token": token, "requests": requests}, spec)
        spec.flush()
        output = subprocess.run([sys.executable, str(HERE / "capture.py"), spec.name], env=env, check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
    captured = json.loads(output)
    for name, results in captured.items():
        for result, marker, (_, _, body) in zip(results, markers[name], requests[name], strict=True):
            result["marker"] = marker if body and marker in body else None
    return captured


def script(result: dict) -> str:
    """One request's statements as a pgbench script, its unique value (if any) replaced by `:bench_unique`."""
    lines = []
    for sql in result["statements"]:
        if PGBENCH_VARIABLE.search(sql):
            raise ValueError(f"captured SQL names a pgbench variable, pgbench would rewrite it: {sql[:200]}")
        if result["marker"]:
            sql = sql.replace(result["marker"], ":bench_unique")
        lines.append(sql.rstrip().rstrip(";") + ";\n")
    header = UNIQUE_HEADER if result["marker"] and any(":bench_unique" in line for line in lines) else ""
    return header + "".join(lines)


def pgbench(database_url: str, results: list[dict], directory: Path, args) -> dict:
    """Runs the scenario's scripts at the benchmark's concurrency; pgbench picks one at random per transaction."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i, result in enumerate(results):
        path = directory / f"request{i:02}.sql"
        path.write_text(script(result))
        files += ["-f", str(path)]
    # Reads prepared, as the read path sends its statements (parsed and planned once per connection); writes, whose
    # unique value is a variable inside a literal, as Django sends them.
    mode = "simple" if any(result["marker"] for result in results) else "prepared"
    command = ["pgbench", "-n", "-M", mode, "-c", str(args.concurrency), "-j", str(args.threads),
               "-T", str(args.ceiling_duration), "-D", "bench_seq=0", "-D", f"bench_run={int(time.time()) * 10**9}",
               *files, database_url]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    tps = re.search(r"^tps = ([0-9.]+)", done.stdout, re.MULTILINE)
    latency = re.search(r"^latency average = ([0-9.]+) ms", done.stdout, re.MULTILINE)
    if done.returncode or not tps:
        error = (done.stderr.strip().splitlines() or ["pgbench failed"])[-1]
        return {"ceiling_tps": None, "ceiling_error": error}
    return {"ceiling_tps": round(float(tps.group(1)), 1),
            "ceiling_latency_ms": round(float(latency.group(1)), 2) if latency else None}  # fmt: skip


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def plans(database_url: str, results: list[dict]) -> dict:
    """Plan node types of the captured SELECTs reading customers_customer, and whether any scans it sequentially
    when run."""
    types, seq_scan_sql = set(), None
    with psycopg.connect(database_url, autocommit=True) as conn:
        for result in results:
            for sql in result["statements"]:
                if not READS_CUSTOMERS.match(sql):
                    continue
                # Run, not only planned: a branch guarded by a one-time filter (the list count's "few rows" branch
                # when the estimate is large) may hold a Seq Scan that is never executed ("Actual Loops": 0).
                plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0][0]["Plan"]
                for node in plan_nodes(plan):
                    types.add(node["Node Type"])
                    # Parallel sequential scans are "Seq Scan" nodes too ("Parallel Aware": true).
                    scanned = node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "customers_customer"
                    if scanned and node.get("Actual Loops", 1) > 0:
                        seq_scan_sql = seq_scan_sql or (sql if len(sql) <= 300 else sql[:300] + " ...")
    return {
        "plan_nodes": sorted(types),
        "seq_scan": (seq_scan_sql is not None) if types else None,
        "seq_scan_sql": seq_scan_sql,
    }
