"""Slow clients do not take the service down: ordinary requests are answered meanwhile, and the slow ones are cut off.

The server under test gets 64 connections that send their request headers one line a second and 64 that send
complete headers with a Content-Length but the body two bytes a second (a login, which needs no token), then 20
ordinary requests with a token, each of which must be answered (200) within a few seconds. The slow connections must
then be closed by the server once its header timeout (`--keepalive`: granian times the headers and an idle
connection with one clock) or body timeout (`--body-timeout`) has passed, set short here.

It runs on granian whatever OMNITRON_SERVER says: gunicorn cannot pass. Its gthread workers read a request's headers
and body in one of their threads, with no time limit, so the threads (here 2 workers x 2) are held by the first slow
clients and the ordinary requests wait for one of them to finish (measured: 0 of 20 answered within 3 s; the slow
connections stayed open as long as they kept sending). OMNITRON_SLOW_CLIENTS_SERVER=gunicorn shows it.
"""

import http.client
import os
import select
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.contract.conftest import start_server, throwaway_database

SERVER = os.environ.get("OMNITRON_SLOW_CLIENTS_SERVER", "granian")
SLOW_HEADERS = 64
SLOW_BODIES = 64
ORDINARY = 20
TIMEOUT = 10  # the server's header and body timeouts, seconds: longer than the ordinary requests take to send
ANSWER_WITHIN = 3  # seconds for each ordinary request
GIVE_UP = 20  # seconds after which a slow client stops by itself, closed or not


@dataclass
class SlowClient:
    """One slow connection: when it started, when it saw the server close it, and what the server answered."""

    started: float = 0.0
    closed: float | None = None
    answer: bytes = b""
    error: str = ""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    extra_env = {"OMNITRON_KEEPALIVE": str(TIMEOUT), "OMNITRON_BODY_TIMEOUT": str(TIMEOUT)}
    with (
        throwaway_database(tmp_path_factory) as database_url,
        start_server(database_url, tmp_path_factory.mktemp("slow-server"), extra_env, server=SERVER) as server,
    ):
        yield server


def trickle(address: tuple[str, int], first: bytes, rest: list[bytes], client: SlowClient, ready: threading.Barrier):
    """Sends `first` at once, then one piece of `rest` a second, until the server closes the connection."""
    client.started = time.monotonic()
    try:
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(first)
            ready.wait()
            for piece in [*rest, *[b""] * GIVE_UP]:
                if time.monotonic() - client.started > GIVE_UP:
                    return
                readable, _, _ = select.select([sock], [], [], 1.0)
                if readable:
                    data = sock.recv(65536)
                    if not data:
                        client.closed = time.monotonic()
                        return
                    client.answer += data
                    continue
                sock.sendall(piece)
    except (ConnectionResetError, BrokenPipeError) as exc:
        client.closed = time.monotonic()
        client.error = repr(exc)
    except (OSError, threading.BrokenBarrierError) as exc:
        client.error = repr(exc)


def ordinary_request(server, answers: list, index: int) -> None:
    started = time.monotonic()
    conn = server.connection(timeout=ANSWER_WITHIN)
    try:
        conn.request("GET", "/api/v1/customers/", headers={"Authorization": f"Token {server.token}"})
        response = conn.getresponse()
        response.read()
        answers[index] = (response.status, time.monotonic() - started)
    except (OSError, http.client.HTTPException) as exc:
        answers[index] = (repr(exc), time.monotonic() - started)
    finally:
        conn.close()


def test_slow_clients_hold_no_thread_and_are_cut_off(server):
    url = urlsplit(server.url)
    address = (url.hostname, url.port)
    headers = [b"X-Slow-%d: %d\r\n" % (n, n) for n in range(GIVE_UP)]
    body = b'{"username": "nobody", "password": "' + b"x" * 60 + b'"}'
    login = (
        b"POST /api/v1/auth/login/ HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (url.netloc.encode(), len(body))
    )
    ready = threading.Barrier(SLOW_HEADERS + SLOW_BODIES + 1, timeout=30)
    slow_headers = [SlowClient() for _ in range(SLOW_HEADERS)]
    slow_bodies = [SlowClient() for _ in range(SLOW_BODIES)]
    pieces = [body[n : n + 2] for n in range(2, 60, 2)]  # never the whole body
    threads = [
        *(
            threading.Thread(target=trickle, args=(address, b"GET / HTTP/1.1\r\n", headers, c, ready))
            for c in slow_headers
        ),
        *(threading.Thread(target=trickle, args=(address, login + body[:2], pieces, c, ready)) for c in slow_bodies),
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    ready.wait()  # every slow connection is open and has sent its first piece
    time.sleep(1)  # and the server has handed the complete headers to the application

    answers: list = [None] * ORDINARY
    senders = [
        threading.Thread(target=ordinary_request, args=(server, answers, i), daemon=True) for i in range(ORDINARY)
    ]
    for sender in senders:
        sender.start()
        time.sleep(0.2)
    for sender in senders:
        sender.join(ANSWER_WITHIN + 2)
    sent = time.monotonic()

    print(f"{server.server}: ordinary requests {answers}")
    assert all(answer is not None and answer[0] == 200 for answer in answers), answers
    assert max(seconds for _, seconds in answers) < ANSWER_WITHIN, answers
    # The ordinary requests were answered while every slow connection was still held open.
    assert all(c.closed is None or c.closed > sent for c in slow_headers + slow_bodies)

    for thread in threads:
        thread.join(GIVE_UP + 5)
    for kind, clients in (("headers", slow_headers), ("body", slow_bodies)):
        open_ = [c for c in clients if c.closed is None]
        print(f"slow {kind}: {len(open_)} of {len(clients)} still open after {GIVE_UP} s")
        assert not open_, f"{len(open_)} slow {kind} connections not closed by the server: {open_[:3]}"
        # Cut off once the timeout has passed (plus a second for the clock of the server's timer), not before.
        held = sorted(c.closed - c.started for c in clients)
        print(f"slow {kind} connections closed after {held[0]:.1f} to {held[-1]:.1f} s")
        assert TIMEOUT - 1 <= held[0] and held[-1] <= TIMEOUT + 5, (kind, held)
    # A slow body is refused with 408 (RFC 9110 §15.5.9) before the connection is closed, when the client reads it.
    answered = [c.answer for c in slow_bodies if c.answer]
    assert answered, [c.error for c in slow_bodies]
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answered), answered[:3]
