"""A live Omnitron server per test module, built like the contract test's (tests/contract/conftest.py).

A module sets `SERVER_ENV` (e.g. {"OMNITRON_LIST_FORMAT": "paginated"}) to start its server with extra environment.
Besides the contract seed, the server has an integration user that logs in with a password, as the SDK does.
"""

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.contract.conftest import OmnitronServer, TLSFiles, _run, start_server, throwaway_database

REQUEST_TIMEOUT = 30  # seconds for one request
RACE_TIMEOUT = 60  # seconds for every request of one race to be answered
USERNAME = "integration"
PASSWORD = "integration-pass-4711"

# Run with `omnitron shell -c` after the seed: a user that logs in with a password (POST /auth/login/).
PASSWORD_USER = f"""
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
user = get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})
user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["channels", "customers", "orders"]))
print(json.dumps({{"pk": user.pk}}))
"""


@dataclass
class Credentials:
    username: str
    password: str
    pk: int


@pytest.fixture(scope="module")
def server_tls() -> TLSFiles | None:
    """The integration server's certificate; a module that needs HTTPS overrides this with one (TLSFiles.make)."""
    return None


@pytest.fixture(scope="module")
def integration_server(request, tmp_path_factory, server_tls) -> OmnitronServer:
    extra_env = getattr(request.module, "SERVER_ENV", {})
    with (
        throwaway_database(tmp_path_factory) as database_url,
        start_server(database_url, tmp_path_factory.mktemp("integration-server"), extra_env, server_tls) as server,
    ):
        yield server


@pytest.fixture
def server_log(integration_server):
    """The server's log written during the test: no tracebacks (a database error answered 500 leaves one)."""
    start = integration_server.log.stat().st_size
    yield integration_server
    with integration_server.log.open("rb") as log:
        log.seek(start)
        written = log.read().decode(errors="replace")
    assert "Traceback" not in written, written


@pytest.fixture(scope="module")
def credentials(integration_server) -> Credentials:
    out = _run(["shell", "-c", PASSWORD_USER], integration_server.env, integration_server.log.parent)
    return Credentials(USERNAME, PASSWORD, json.loads(out.strip().splitlines()[-1])["pk"])


def race(server: OmnitronServer, sends: list[Callable[[http.client.HTTPConnection], object]]) -> list:
    """Run every `send(conn)` at once, one thread and connection each; their results, in order.

    Each connection is open before the barrier, so only the requests themselves race. An exception in a thread is
    raised here, not lost.
    """
    barrier = threading.Barrier(len(sends), timeout=REQUEST_TIMEOUT)
    answers: list = [None] * len(sends)

    def run(index: int) -> None:
        conn = server.connection(REQUEST_TIMEOUT)
        try:
            conn.connect()
            barrier.wait()
            answers[index] = sends[index](conn)
        except BaseException as exc:
            barrier.abort()
            answers[index] = exc
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(sends))]
    deadline = time.monotonic() + RACE_TIMEOUT
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"requests still unanswered after {RACE_TIMEOUT}s"
    errors = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not errors, errors
    return answers


def request(server: OmnitronServer, method: str, path: str, body: dict | None = None, headers: dict | None = None,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, object, http.client.HTTPMessage]:  # fmt: skip
    """One JSON request with the server's token: its status, decoded body (None if empty) and headers.

    On `conn` when given (a race's connection), else on a connection of its own.
    """
    own = conn is None
    conn = conn or server.connection(REQUEST_TIMEOUT)
    try:
        conn.request(
            method,
            path,
            body=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {server.token}", "Content-Type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None), response.headers
    finally:
        if own:
            conn.close()
