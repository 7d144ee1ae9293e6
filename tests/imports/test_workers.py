"""Imports run by `omnitron worker` processes beside `omnitron serve`: an upload is imported in the background; a
worker killed with SIGKILL mid-import leaves it to another, which finishes it with nothing lost or written twice."""

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest

from tests.contract.conftest import OMNITRON, send_early_answered, start_server, throwaway_database

ENV = {
    "OMNITRON_IMPORT_LEASE_SECONDS": "2",
    "OMNITRON_WORKER_POLL_SECONDS": "0.1",
    "OMNITRON_IMPORT_PROCESSES": "2",  # the batch processes too, on PostgreSQL
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with (
        throwaway_database(tmp_path_factory) as url,
        start_server(url, tmp_path_factory.mktemp("import-server"), extra_env=ENV) as server,
    ):
        yield server


def request(server, method: str, path: str, body: bytes | None = None, content_type="application/json"):
    connection = server.connection()
    headers = {"Authorization": f"Token {server.token}", "Content-Type": content_type}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    assert response.status < 300, data
    return data


def upload(server, rows: int, prefix: str) -> int:
    lines = [b"email,channel_code,first_name,is_active"]
    lines += [f"{prefix}{n}@example.com,{prefix}{n},Name {n},true".encode() for n in range(rows)]
    answer = request(server, "POST", "/api/v1/customers/imports/", b"\r\n".join(lines) + b"\r\n", "text/csv")
    return json.loads(answer)["pk"]


def status(server, pk: int) -> dict:
    return json.loads(request(server, "GET", f"/api/v1/customers/imports/{pk}/"))


@contextlib.contextmanager
def worker(server):
    log = (server.log.parent / "worker.log").open("ab")
    process = subprocess.Popen([*OMNITRON, "worker"], env=server.env, cwd=server.log.parent, stdout=log, stderr=log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def wait_for(predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_an_upload_is_imported_by_a_worker(server):
    pk = upload(server, 3000, "bg-")
    assert status(server, pk)["status"] == "queued"
    with worker(server):
        record = wait_for(lambda: (s := status(server, pk))["status"] == "succeeded" and s)
    assert (record["rows_read"], record["created"], record["failed"], record["progress"]) == (3000, 3000, 0, 1.0)
    report = request(server, "GET", f"/api/v1/customers/imports/{pk}/report/").splitlines()
    assert [json.loads(line)["line"] for line in report] == list(range(2, 3002))


def test_a_worker_killed_mid_import_loses_nothing(server):
    rows = 20_000
    pk = upload(server, rows, "kill-")
    with worker(server) as doomed:
        wait_for(lambda: status(server, pk)["rows_read"] >= 2000)
        os.kill(doomed.pid, signal.SIGKILL)  # its batch processes die with it (processes.start)
        doomed.wait(timeout=10)
    halfway = status(server, pk)
    assert halfway["status"] == "running" and halfway["rows_read"] < rows
    with worker(server):
        record = wait_for(lambda: (s := status(server, pk))["status"] == "succeeded" and s)
    assert (record["rows_read"], record["created"], record["failed"]) == (rows, rows, 0)
    report = [
        json.loads(line) for line in request(server, "GET", f"/api/v1/customers/imports/{pk}/report/").splitlines()
    ]
    assert sorted(line["line"] for line in report) == list(range(2, rows + 2))  # each row once
    assert len({line["pk"] for line in report}) == rows


def test_a_file_larger_than_the_servers_body_limit_is_streamed_in(server):
    # OMNITRON_MAX_BODY_SIZE (1 MB) bounds every other body; an import's file is read as it arrives.
    padding = "x" * 8000
    lines = [b"email,channel_code,is_active,attributes"]
    lines += [f'big{n}@example.com,big-{n},true,"{{""note"": ""{padding}""}}"'.encode() for n in range(300)]
    body = b"\r\n".join(lines) + b"\r\n"
    assert len(body) > 2 * 1024 * 1024
    answer = json.loads(request(server, "POST", "/api/v1/customers/imports/?dry_run=true", body, "text/csv"))
    assert answer["size"] == len(body)
    with worker(server):
        record = wait_for(lambda: (s := status(server, answer["pk"]))["status"] == "succeeded" and s)
    assert (record["rows_read"], record["created"], record["failed"]) == (300, 300, 0)
    # Any other route still refuses such a body unread.
    connection = server.connection()
    headers = {"Authorization": f"Token {server.token}", "Content-Type": "application/json"}
    send_early_answered(lambda: connection.request("POST", "/api/v1/customers/", body=body, headers=headers))
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read())["code"] == "request_too_large"
    connection.close()
