"""`import_1m` and `export_1m`: a million customers into the service from a CSV file, and all of them out as JSON Lines.

Import: a CSV file of IMPORT_ROWS new customers, shaped as the demo's (names, phone, consent flags, attributes, a
channel), goes through `omnitron import_customers` (the import an upload gets, run at once: rows validated by the
API's serializer, written by COPY with their history and events, OMNITRON_IMPORT_PROCESSES processes writing
batches); then the same file again, every row unchanged. Each is timed from start to end, and its resident memory
sampled every 0.2 s: the importing process's own, and with its batch processes. The customers it added are deleted
afterwards, with their history and events, so every run starts from the demo data.

Export: `GET /api/v1/customers/export/?format=jsonl` of the whole table from `omnitron serve`, read by curl: its first
byte's delay, rows per second; and `omnitron export_customers --format jsonl` (the same export in one process) for its
peak resident memory.
"""

import csv
import json
import os
import random
import resource
import subprocess
import time
from pathlib import Path

import psycopg

IMPORT_ROWS = 1_000_000
PREFIX = "bench-import-"
OMNITRON = [str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "omnitron")]


def write_file(path: Path, rows: int, channels: list[int]) -> None:
    random.seed(7)
    header = ["email", "channel_code", "first_name", "last_name", "phone_number", "is_active", "erp_code", "attributes",
              "email_allowed", "sms_allowed", "call_allowed", "date_joined", "gender", "user_type", "date_of_birth",
              "channel"]  # fmt: skip
    names = ["Ayşe", "Mehmet", "Zeynep", "Can", "Elif", "Emre", "Ada", "Deniz"]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for n in range(rows):
            writer.writerow([
                f"import{n}@example.com", f"{PREFIX}{n}", random.choice(names), random.choice(names) + "oğlu",
                f"+90555{n:07d}", "true", f"ERP{n}", json.dumps({"segment": random.choice("abc"), "score": n % 100}),
                random.choice(["true", "false"]), "false", "false", "2024-01-02T03:04:05Z",
                random.choice(["male", "female", ""]), "registered", "1990-05-17", random.choice(channels),
            ])  # fmt: skip


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory of the process and of it with its descendants, in MB."""

    def rss(p: str) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    own = rss(str(pid))
    total, pending = own, [str(pid)]
    while pending:
        parent = pending.pop()
        try:
            kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            kids = []
        for kid in kids:
            total += rss(kid)
            pending.append(kid)
    return own, total


def postmaster_children_cpu() -> float:
    """CPU seconds of PostgreSQL's ended backends (the postmaster's reaped children): a command's connections end
    with it, so the difference over the command is what PostgreSQL spent serving it (and anything else meanwhile)."""
    pid = subprocess.run(["pgrep", "-o", "-x", "postgres"], capture_output=True, text=True).stdout.strip()
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime


def timed(command: list[str], env: dict, log) -> dict:
    """Runs the command; its wall time, the peak resident memory of it alone and with its children, and the CPU
    time of it with its children and of PostgreSQL's backends."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    postgres = postmaster_children_cpu()
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    peak_own = peak_total = 0.0
    while process.poll() is None:
        own, total = tree_rss_mb(process.pid)
        peak_own, peak_total = max(peak_own, own), max(peak_total, total)
        time.sleep(0.2)
    seconds = time.monotonic() - started
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}); see {log.name}")
    time.sleep(0.5)  # the backends' exit reaped
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        "import": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "postgres": round(postmaster_children_cpu() - postgres, 1),
    }
    return {"seconds": round(seconds, 1), "rss_mb": round(peak_own), "rss_with_batch_processes_mb": round(peak_total),
            "cpu_s": cpu}  # fmt: skip


def cleanup(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        ids = "SELECT id FROM customers_customer WHERE channel_code LIKE %s"
        like = [PREFIX + "%"]
        conn.execute(f"DELETE FROM events_event WHERE type LIKE 'customer.%%' AND record_id IN ({ids})", like)
        conn.execute(f"DELETE FROM customers_historicalcustomer WHERE id IN ({ids})", like)
        conn.execute(f"DELETE FROM customers_customerline WHERE customer_id IN ({ids})", like)
        conn.execute("DELETE FROM customers_customer WHERE channel_code LIKE %s", like)
        conn.execute("DELETE FROM imports_importreport")
        conn.execute("DELETE FROM imports_import")
        # A million rows written and deleted: vacuumed, so that later steps and runs meet tables of the demo's size.
        conn.execute(
            "VACUUM ANALYZE customers_customer, customers_customerline, customers_historicalcustomer, events_event"
        )


def measure_import(env: dict, database_url: str, var: Path) -> dict:
    var.mkdir(parents=True, exist_ok=True)
    path = var / "import_1m.csv"
    cleanup(database_url)
    with psycopg.connect(database_url) as conn:
        channels = [row[0] for row in conn.execute("SELECT id FROM channels_channel ORDER BY id")]
    write_file(path, IMPORT_ROWS, channels)
    result = {"rows": IMPORT_ROWS, "processes": int(env.get("OMNITRON_IMPORT_PROCESSES") or os.cpu_count() or 1)}
    try:
        with (var / "import.log").open("w") as log:
            for name in ("new", "unchanged"):
                print(f"import_1m: {name} rows ...", flush=True)
                result[name] = timed([*OMNITRON, "import_customers", str(path)], env, log)
                result[name]["rows_per_s"] = round(IMPORT_ROWS / result[name]["seconds"])
                print(f"import_1m: {name}: {result[name]}", flush=True)
        with psycopg.connect(database_url) as conn:
            counts = conn.execute("SELECT created, unchanged, failed FROM imports_import ORDER BY id").fetchall()
        result["counts"] = [dict(zip(("created", "unchanged", "failed"), row, strict=True)) for row in counts]
    finally:
        cleanup(database_url)
        path.unlink(missing_ok=True)
    return result


def measure_export(env: dict, database_url: str, var: Path, url: str, token: str) -> dict:
    """The whole table as JSON Lines: over HTTP from the running service (curl: first byte, rows per second), then
    by `omnitron export_customers` (its peak resident memory)."""
    var.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
    print("export_1m: over HTTP ...", flush=True)
    curl = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_starttransfer} %{time_total} %{size_download}",
         "-H", f"Authorization: Token {token}", f"{url}/api/v1/customers/export/?format=jsonl"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    status, first_byte, total, size = curl.stdout.split()
    if status != "200":
        raise RuntimeError(f"export answered {status}")
    print("export_1m: the command ...", flush=True)
    with (var / "export.log").open("w") as log:
        command = timed([*OMNITRON, "export_customers", "--format", "jsonl", "--output", os.devnull], env, log)
    result = {
        "rows": rows,
        "seconds": round(float(total), 1),
        "rows_per_s": round(rows / float(total)),
        "first_byte_s": round(float(first_byte), 3),
        "megabytes": round(int(size) / 1e6),
        "command_seconds": command["seconds"],
        "command_rows_per_s": round(rows / command["seconds"]),
        "command_rss_mb": command["rss_mb"],
    }
    print(f"export_1m: {result}", flush=True)
    return result
