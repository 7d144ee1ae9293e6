"""Receivers on loopback for webhook tests, and a worker running beside the test (webhooks.worker)."""

import asyncio
import contextlib
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.db import OperationalError

from webhooks.worker import Worker


def verify(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """The README's receiver check: the signature of `<t>.<body>` and a timestamp no older than `tolerance` s."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < tolerance


class ReceiverServer(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    # Up to 2 x OMNITRON_WEBHOOK_CONCURRENCY connections arrive at once from two workers. A web server queues them
    # (nginx: 511); socketserver's default of 5 drops the rest, and a dropped connection is retried by the kernel
    # after 1 s: past the tests' 1 s webhook timeout, a timed-out attempt the receiver never saw.
    request_queue_size = 1024


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps what it is sent. `answer(number)` gives the status of the n-th request
    (1-based) and may sleep; 200 by default. `close()` then `start()` again keeps the port: a receiver down, then up."""

    def __init__(self, answer: Callable[[int], int] | None = None, port: int = 0):
        self.answer = answer or (lambda number: 200)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.port = port
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "time": time.monotonic()})
                    number = len(receiver.requests)
                status = receiver.answer(number)
                reply = json.dumps({"received": number}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ReceiverServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(request["body"]) for request in self.requests]

    def wait_for(self, count: int, timeout: float = 15) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} requests received, {count} expected"
            time.sleep(0.02)
        return self.events()


def eventually(check: Callable[[], object], timeout: float = 15, message: str = ""):
    deadline = time.monotonic() + timeout
    while not (result := retrying(check)):
        assert time.monotonic() < deadline, message or "condition not met in time"
        time.sleep(0.05)
    return result


def retrying(write: Callable[[], object], attempts: int = 50):
    """`write()`, again while the test database says a table is locked: the in-memory SQLite database the tests share
    with the worker's thread (shared cache) answers a concurrent write at once with that error, where a database file
    would wait for the lock (the installation's SQLite does: a 20 s timeout)."""
    for attempt in range(attempts):
        try:
            return write()
        except OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def running_worker():
    """`omnitron worker` in a thread of this process (its own loop, its own database connection); stopped as SIGTERM
    stops it: the deliveries in flight finish and are recorded."""
    worker = Worker()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        loop.call_soon_threadsafe(worker.stop)
        thread.join(timeout=30)
        loop.close()
        assert not thread.is_alive(), "the worker did not stop"


@pytest.fixture
def webhook_settings(settings):
    """Loopback receivers over http, and retries fast enough for a test to watch."""
    settings.OMNITRON_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
    settings.OMNITRON_WEBHOOK_RETRY_SECONDS = 0.2
    settings.OMNITRON_WORKER_POLL_SECONDS = 0.05
    return settings


@pytest.fixture
def user(user):
    """The integration's user may also manage webhooks."""
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
    return user
