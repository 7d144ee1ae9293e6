"""The benchmark's results: the machine and versions they were measured with, the issue's targets, Markdown and a
chart."""

import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path

import psycopg

__all__ = ["FILTER_SCENARIOS", "chart", "machine", "markdown", "targets", "versions"]

FILTER_SCENARIOS = ["list_email_startswith", "list_erp_code", "list_attributes", "list_extra_field",
                    "list_created_date", "list_pk_in", "list_phone_number"]  # fmt: skip
RSS_LIMIT_MB = 150
P99_LIMIT_MS = 50
# History and events may cost a write at most this share of its requests/s (measured beside the code before them).
WRITE_LOSS_LIMIT = 0.15
DELIVERY_RATE = 3000
# Issue 18: bulk import and export (bench/bulk.py).
IMPORT_NEW_S, IMPORT_UNCHANGED_S, IMPORT_RSS_MB = 180, 120, 300
EXPORT_ROWS_PER_S, EXPORT_FIRST_BYTE_S, EXPORT_RSS_MB = 100_000, 1.0, 150
DELIVERY_P99_MS = 1000


def machine() -> dict:
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    return {
        "cpu": cpu.group(1).strip() if cpu else platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gb": round(int(memory.group(1)) / 1024**2, 1) if memory else None,
        "os": platform.platform(),
    }


def first_line(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return ((done.stdout or done.stderr).strip().splitlines() or [None])[0]


def versions(database_url: str, platformatic: str | None) -> dict:
    with psycopg.connect(database_url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "python": platform.python_version(),
        "django": importlib.metadata.version("django"),
        "granian": importlib.metadata.version("granian"),
        "gunicorn": importlib.metadata.version("gunicorn"),
        "postgresql": postgres,
        "node": first_line(["node", "--version"]),
        "platformatic_db": platformatic,
        "wrk": (first_line(["wrk", "-v"]) or "").split(" Copyright")[0] or None,
        "pgbench": first_line(["pgbench", "--version"]),
    }


def targets(report: dict) -> dict:
    """The read path issue's targets, each met (true), missed (false) or not measured in this run (null)."""
    s = report["scenarios"]

    def ratio(name: str, other: str, factor: float, label: str) -> dict:
        row = s.get(name, {})
        mine, theirs = row.get("rps"), row.get(other)
        met = None if mine is None or theirs is None else mine >= factor * theirs
        return {"target": f"{name} requests/s ≥ {factor} x {label}", "measured": f"{mine} vs {theirs}", "met": met}

    lists = {name: row["p99_ms"] for name, row in s.items() if name.startswith("list")}
    scans = {name: s[name].get("seq_scan") for name in FILTER_SCENARIOS if name in s}
    rss = report.get("workers_rss_mb") or []
    return {
        "retrieve_vs_peer": ratio("retrieve", "peer_rps", 2.0, "Platformatic DB"),
        "email_startswith_vs_peer": ratio("list_email_startswith", "peer_rps", 1.5, "Platformatic DB"),
        "phone_number_vs_peer": ratio("list_phone_number", "peer_rps", 1.5, "Platformatic DB"),
        "pk_in_vs_peer": ratio("list_pk_in", "peer_rps", 1.0, "Platformatic DB"),
        "created_date_vs_peer": ratio("list_created_date", "peer_rps", 1.0, "Platformatic DB"),
        "detailed_10_vs_ceiling": ratio("list_detailed_10", "ceiling_tps", 0.5, "pgbench ceiling"),
        "list_p99": {
            "target": f"every list scenario p99 ≤ {P99_LIMIT_MS} ms",
            "measured": ", ".join(f"{name} {p99}" for name, p99 in lists.items() if p99 > P99_LIMIT_MS) or "all within",
            "met": all(p99 <= P99_LIMIT_MS for p99 in lists.values()) if lists else None,
        },
        "no_seq_scan": {
            "target": "no sequential scan of customers_customer in any filter scenario",
            "measured": ", ".join(name for name, scan in scans.items() if scan) or "none",
            "met": None if not scans or None in scans.values() else not any(scans.values()),
        },
        **{f"{name}_with_history": write_target(name, s.get(name, {})) for name in ("create", "patch")},
        **delivery_targets(report.get("events_delivery")),
        **bulk_targets(report.get("import_1m"), report.get("export_1m")),
        "worker_rss": {
            "target": f"every worker's RSS < {RSS_LIMIT_MB} MB after the run",
            "measured": f"max {max(rss)} MB of {len(rss)} workers" if rss else "not measured",
            "met": max(rss) < RSS_LIMIT_MB if rss else None,
        },
    }


def write_target(name: str, row: dict) -> dict:
    mine, before = row.get("rps"), row.get("before_history_rps")
    return {
        "target": f"{name} requests/s with history and events ≥ {1 - WRITE_LOSS_LIMIT:g} x the code before them",
        "measured": f"{mine} vs {before} ({mine / before - 1:+.0%})" if mine and before else "not measured",
        "met": mine >= (1 - WRITE_LOSS_LIMIT) * before if mine and before else None,
    }


def delivery_targets(delivery: dict | None) -> dict:
    steady, backlog = (delivery or {}).get("steady", {}), (delivery or {}).get("backlog", {})
    return {
        "events_delivery_rate": {
            "target": f"{DELIVERY_RATE} events/s delivered with two workers (every event of {DELIVERY_RATE}/s, and a "
            "backlog drained at least that fast)",
            "measured": f"{steady.get('delivered')} of {steady.get('events')} at {steady.get('committed_per_s')}/s; "
            f"backlog {backlog.get('delivered_per_s')}/s"
            if delivery
            else "not measured",
            "met": steady["delivered"] == steady["events"] and backlog["delivered_per_s"] >= DELIVERY_RATE
            if delivery
            else None,
        },
        "events_delivery_p99": {
            "target": f"p99 commit-to-receipt < {DELIVERY_P99_MS} ms at {DELIVERY_RATE} events/s",
            "measured": f"{steady.get('p99_ms')} ms (p50 {steady.get('p50_ms')})" if delivery else "not measured",
            "met": steady["p99_ms"] is not None and steady["p99_ms"] < DELIVERY_P99_MS if delivery else None,
        },
    }


def bulk_targets(imported: dict | None, exported: dict | None) -> dict:
    new, same = (imported or {}).get("new", {}), (imported or {}).get("unchanged", {})
    exported = exported or {}

    def target(text: str, measured, met) -> dict:
        return {"target": text, "measured": measured if measured is not None else "not measured", "met": met}

    return {
        "import_1m_new": target(
            f"import of 1,000,000 new customers from CSV ≤ {IMPORT_NEW_S} s",
            new and f"{new['seconds']} s ({new['rows_per_s']} rows/s)",
            new["seconds"] <= IMPORT_NEW_S if new else None,
        ),
        "import_1m_unchanged": target(
            f"the same file again (all unchanged) ≤ {IMPORT_UNCHANGED_S} s",
            same and f"{same['seconds']} s ({same['rows_per_s']} rows/s)",
            same["seconds"] <= IMPORT_UNCHANGED_S if same else None,
        ),
        "import_1m_rss": target(
            f"the importing process < {IMPORT_RSS_MB} MB resident",
            new
            and f"{max(new['rss_mb'], same['rss_mb'])} MB (with its batch processes "
            f"{max(new['rss_with_batch_processes_mb'], same['rss_with_batch_processes_mb'])} MB)",
            max(new["rss_mb"], same["rss_mb"]) < IMPORT_RSS_MB if new and same else None,
        ),
        "export_1m_rate": target(
            f"export of 1,000,000 customers as JSON Lines ≥ {EXPORT_ROWS_PER_S:,} rows/s",
            exported.get("rows_per_s") and f"{exported['rows_per_s']} rows/s over HTTP ({exported['rows']} rows)",
            exported["rows_per_s"] >= EXPORT_ROWS_PER_S if exported else None,
        ),
        "export_1m_first_byte": target(
            f"first byte within {EXPORT_FIRST_BYTE_S} s",
            exported.get("first_byte_s") and f"{exported['first_byte_s']} s",
            exported["first_byte_s"] <= EXPORT_FIRST_BYTE_S if exported else None,
        ),
        "export_1m_rss": target(
            f"the exporting process < {EXPORT_RSS_MB} MB resident",
            exported.get("command_rss_mb") and f"{exported['command_rss_mb']} MB (`omnitron export_customers`)",
            exported["command_rss_mb"] < EXPORT_RSS_MB if exported else None,
        ),
    }


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def cpu_cell(service: dict | None, peer: dict | None) -> str:
    """`server / PostgreSQL` milliseconds of CPU per request, then the peer's in parentheses."""
    text = f"{service['server']} / {service['postgres']}" if service else "-"
    return f"{text} ({peer['server']} / {peer['postgres']})" if peer else text


def markdown(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    lines = [
        f"# Benchmark {report['date']}",
        "",
        f"{report['customers']} customers, {report['orders']} orders, concurrency {report['concurrency']}, "
        f"{report['duration_s']} s per scenario after {report.get('warmup_s', 0)} s of the same requests unmeasured "
        f"(pgbench {report['ceiling_duration_s']} s).",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}",
        "- Versions: " + ", ".join(f"{name} {version}" for name, version in v.items()),
        f"- Service: `omnitron serve` ({os.environ.get('OMNITRON_SERVER') or 'granian'}), {report['workers']} workers, "
        f"token authentication on every request ({report['tokens']} tokens of one user, as that many clients), the "
        "read path on.",
        f"- Peer: {report['peer']}",
        "",
        "Commands:",
        "",
        *[f"- {name}: `{command}`" for name, command in report["commands"].items()],
        "",
        "| scenario | requests/s | p50 ms | p99 ms | errors | ceiling tps | peer requests/s | seq scan | plan nodes "
        "| worker RSS MB | connections per worker | CPU ms per request: server / PostgreSQL (peer's) | machine busy "
        "| failed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["scenarios"].items():
        columns = ["rps", "p50_ms", "p99_ms", "errors", "ceiling_tps", "peer_rps", "seq_scan", "plan_nodes"]
        values = [cell(s.get(key)) for key in [*columns, "worker_rss_mb"]]
        values.append("/".join(map(str, s.get("connections_per_worker") or [])) or "-")
        values.append(cpu_cell(s.get("cpu_ms_per_request"), s.get("peer_cpu_ms_per_request")))
        busy = (s.get("cpu_ms_per_request") or {}).get("machine_busy")
        values.append("-" if busy is None else f"{busy:.0%}")
        lines.append(f"| {name} | {' | '.join(values)} | {'; '.join(s['failed']) or '-'} |")
    lines += ["", "Targets:", "", "| target | measured | result |", "|---|---|---|"]
    for t in report["targets"].values():
        result = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']} | {t['measured']} | {result} |")
    if delivery := report.get("events_delivery"):
        steady, backlog = delivery["steady"], delivery["backlog"]
        cpu = steady["cpu_ms_per_event"]
        lines += [
            "",
            f"events_delivery ({delivery['workers']} `omnitron worker` processes, a receiver on loopback answering "
            "200 at once; bench/delivery.py):",
            "",
            f"- steady: {steady['events']} events committed at {steady['committed_per_s']}/s, {steady['delivered']} "
            f"delivered ({steady['delivered_per_s']}/s from the first commit to the last receipt); commit to receipt "
            f"p50 {steady['p50_ms']} ms, p99 {steady['p99_ms']} ms, max {steady['max_ms']} ms; CPU per event: "
            f"workers {cpu['workers']} ms, receiver {cpu['receiver']} ms, PostgreSQL {cpu['postgres']} ms",
            f"- backlog: {backlog['events']} events committed with no worker running, delivered at "
            f"{backlog['delivered_per_s']}/s (first receipt to last)",
            f"- events delivered more than once: {delivery['duplicates']}",
        ]
    if imported := report.get("import_1m"):
        lines += ["", f"import_1m ({imported['rows']} rows, bench/bulk.py; `omnitron import_customers`, "
                  f"{imported['processes']} batch processes):", ""]  # fmt: skip
        for name in ("new", "unchanged"):
            run = imported[name]
            lines.append(
                f"- {name}: {run['seconds']} s, {run['rows_per_s']} rows/s; resident {run['rss_mb']} MB "
                f"({run['rss_with_batch_processes_mb']} MB with its batch processes); CPU: importing processes "
                f"{run.get('cpu_s', {}).get('import', '-')} s, PostgreSQL {run.get('cpu_s', {}).get('postgres', '-')} s"
            )
    if exported := report.get("export_1m"):
        lines += ["", "export_1m (bench/bulk.py):", "",
                  f"- HTTP: {exported['rows']} rows in {exported['seconds']} s ({exported['rows_per_s']} rows/s), "
                  f"{exported['megabytes']} MB, first byte after {exported['first_byte_s']} s",
                  f"- `omnitron export_customers --format jsonl`: {exported['command_seconds']} s "
                  f"({exported['command_rows_per_s']} rows/s), resident {exported['command_rss_mb']} MB"]  # fmt: skip
    scans = {name: s["seq_scan_sql"] for name, s in report["scenarios"].items() if s.get("seq_scan_sql")}
    if scans:
        lines += ["", "Statements planned with a sequential scan of customers_customer (one example each):", ""]
        lines += [f"- {name}: `{sql}`" for name, sql in scans.items()]
    if report["peer_requests"]:
        lines += ["", "Peer requests:", "", *[f"- {name}: `{r}`" for name, r in report["peer_requests"].items()]]
    return "\n".join(lines) + "\n"


def chart(report: dict, paths: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["scenarios"])
    series = [("Omnitron (requests/s)", "rps"), ("Platformatic DB (requests/s)", "peer_rps"),
              ("PostgreSQL ceiling (pgbench tps)", "ceiling_tps")]  # fmt: skip
    figure, axes = plt.subplots(figsize=(max(8, len(names) * 0.9), 5.5))
    width = 0.8 / len(series)
    for i, (label, key) in enumerate(series):
        values = [report["scenarios"][name].get(key) or 0 for name in names]
        axes.bar([n + (i - 1) * width for n in range(len(names))], values, width, label=label)
    axes.set_xticks(range(len(names)), names, rotation=40, ha="right")
    axes.set_ylabel("per second")
    axes.set_title(f"{report['customers']} customers, concurrency {report['concurrency']}, {report['date']}")
    axes.legend()
    figure.tight_layout()
    for path in paths:
        figure.savefig(path, dpi=110)
    plt.close(figure)
