import asyncio
import copy
import io
import itertools
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from django.core.management.base import BaseCommand, CommandError

# A client's connection stays with the worker that accepted it, and a worker runs Python on one core at a time: with
# one worker per CPU, a few busy connections all accepted by one worker leave the other cores idle (measured: 4 of 4
# on one of 2 workers halved the requests served). Twice as many workers let the OS spread busy ones over the cores.
WORKERS_PER_CPU = 2
# Seconds an idle client connection stays open. Longer than the idle timeout of the load balancers in front of it
# (60 s is common): the one that closes an idle connection must be the client side, else a request sent on it just
# as the server closes it fails. gunicorn's 2 s default is meant for clients connecting directly.
KEEPALIVE = 75
# Seconds a client has to send a request's body once its headers are in (granian). A slow body holds no thread, only
# one of the connections a worker takes (granian's backpressure); 30 s still lets a client on a 300 kbit/s link send
# the largest body accepted (1 MB, OMNITRON_MAX_BODY_SIZE).
BODY_TIMEOUT = 30
# Connections a worker holds at once (granian's backpressure; gunicorn's worker_connections is 1000 too). Slow
# clients take these, not threads: a few hundred of them leave room for everyone else.
CONNECTIONS_PER_WORKER = 1000
# Seconds the workers have to finish the requests in progress on SIGTERM; then they are killed.
GRACEFUL_TIMEOUT = 20

access_log = logging.getLogger("omnitron.access")
error_log = logging.getLogger("omnitron.server")

# RFC 9110 §15.5.9: the client did not send its request in time; the connection is closed after it.
REQUEST_TIMEOUT_BODY = b'{"detail": "The request body was not received in time.", "code": "request_timeout"}'


class Command(BaseCommand):
    help = (
        "Serve the API with a production HTTP server: granian (the default) or gunicorn (threaded workers). "
        "With granian a client that sends its request slowly holds no Python thread: its headers must arrive "
        "within --keepalive seconds of the connection (or of its previous response), its body within "
        "--body-timeout seconds of its headers, else the connection is closed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--server",
            choices=("gunicorn", "granian"),
            default=os.environ.get("OMNITRON_SERVER", "granian"),
            help="the HTTP server (default: OMNITRON_SERVER, else granian)",
        )
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", str(WORKERS_PER_CPU * (os.cpu_count() or 1)))),
            help=f"worker processes (default: WEB_CONCURRENCY, else {WORKERS_PER_CPU} per CPU)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=int(os.environ.get("OMNITRON_THREADS", "2")),
            help="threads per worker running the application (default: OMNITRON_THREADS, else 2)",
        )
        parser.add_argument(
            "--keepalive",
            type=int,
            default=int(os.environ.get("OMNITRON_KEEPALIVE", str(KEEPALIVE))),
            help=(
                f"seconds an idle connection stays open (default: OMNITRON_KEEPALIVE, else {KEEPALIVE}); with granian "
                "also the seconds a client has to send a request's headers, counted from the connection's start or "
                "its previous response (one timer in granian's HTTP library); 0 closes each connection after its "
                "response"
            ),
        )
        parser.add_argument(
            "--body-timeout",
            type=float,
            default=float(os.environ.get("OMNITRON_BODY_TIMEOUT", str(BODY_TIMEOUT))),
            help=(
                "granian: seconds a client has to send a request's body once its headers are in, else 408 and the "
                f"connection is closed (default: OMNITRON_BODY_TIMEOUT, else {BODY_TIMEOUT}); gunicorn has no limit"
            ),
        )
        parser.add_argument(
            "--with-worker",
            action="store_true",
            help="also run one webhook worker (`omnitron worker`) beside the server, stopped with it",
        )
        parser.add_argument(
            "--certfile",
            default=os.environ.get("OMNITRON_CERTFILE") or None,
            help="serve HTTPS with this PEM certificate (chain) file (default: OMNITRON_CERTFILE); needs --keyfile",
        )
        parser.add_argument(
            "--keyfile",
            default=os.environ.get("OMNITRON_KEYFILE") or None,
            help="the certificate's PEM private key file (default: OMNITRON_KEYFILE)",
        )

    def handle(
        self,
        *args,
        server,
        host,
        port,
        workers,
        threads,
        keepalive,
        body_timeout,
        with_worker,
        certfile,
        keyfile,
        **options,
    ):
        if bool(certfile) != bool(keyfile):
            raise CommandError("--certfile and --keyfile go together: give both to serve HTTPS, or neither")
        for path in filter(None, (certfile, keyfile)):
            if not os.path.isfile(path):
                raise CommandError(f"{path}: no such file")
        if body_timeout <= 0:
            raise CommandError("--body-timeout must be positive")

        # Loaded here, before either server forks its workers: they inherit it, its frozen garbage included
        # (omnitron.wsgi), and a broken configuration stops the command before any worker starts.
        from omnitron.wsgi import application

        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        scheme = "https" if certfile else "http"
        self.stdout.write(f"Omnitron listening on {scheme}://{bind}/ ({server}, {workers} workers x {threads} threads)")
        self.stdout.flush()
        worker = subprocess.Popen([sys.executable, "-m", "omnitron", "worker"]) if with_worker else None
        try:
            if server == "granian":
                serve_granian(application, host, port, workers, threads, keepalive, body_timeout, certfile, keyfile)
            else:
                serve_gunicorn(application, bind, workers, threads, keepalive, certfile, keyfile)
        finally:
            if worker is not None:
                worker.terminate()  # SIGTERM: its deliveries in flight finish first
                try:
                    worker.wait(timeout=GRACEFUL_TIMEOUT)
                except subprocess.TimeoutExpired:
                    worker.kill()


def serve_gunicorn(application, bind, workers, threads, keepalive, certfile, keyfile):
    from gunicorn.app.base import BaseApplication

    config = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": keepalive,
        # `pk__in` with 1000 ids makes a request line of about 16 KB; gunicorn's cap is 8 KB
        # unless the limit is lifted (0 still bounds the line at 1 MB).
        "limit_request_line": 0,
        "accesslog": "-",
        "timeout": 60,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        # One shared control socket path per user would collide between servers on one machine.
        "control_socket_disable": True,
    }
    if certfile:
        config.update(certfile=certfile, keyfile=keyfile)

    class Server(BaseApplication):
        def load_config(self):
            for key, value in config.items():
                self.cfg.set(key, value)

        def load(self):
            return application

    Server().run()


def serve_granian(application, host, port, workers, threads, keepalive, body_timeout, certfile, keyfile):
    from django.conf import settings
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings
    from granian.log import LOGGING_CONFIG
    from granian.server import Server

    logging_config = copy.deepcopy(LOGGING_CONFIG)
    logging_config["loggers"]["omnitron.access"] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    app = GranianApplication(
        application,
        threads=threads,
        body_timeout=body_timeout,
        max_body=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        multiprocess=workers > 1,
    )
    server = Server(
        "omnitron.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=workers,
        # HTTP/1.1 only, as gunicorn: the timeouts below are HTTP/1's.
        http=HTTPModes.http1,
        websockets=False,
        backlog=2048,  # gunicorn's
        backpressure=CONNECTIONS_PER_WORKER,
        http1_settings=HTTP1Settings(
            # hyper's header read timer starts when the connection (or its previous response) does, so it is also
            # the idle connection's: one value for both, the longer one, so that a load balancer closes first.
            header_read_timeout=(keepalive or KEEPALIVE) * 1000,
            keep_alive=keepalive > 0,
        ),
        # The application's own access log (GranianApplication), in gunicorn's format.
        log_access=False,
        log_dictconfig=logging_config,
        ssl_cert=Path(certfile) if certfile else None,
        ssl_key=Path(keyfile) if keyfile else None,
        ssl_protocol_min=SSLProtocols.tls12,  # granian's default is TLS 1.3 only; gunicorn accepts 1.2
        respawn_failed_workers=True,  # as gunicorn's arbiter does
        workers_kill_timeout=GRACEFUL_TIMEOUT,
    )
    server.serve(target_loader=lambda: app, wrap_loader=False)


class StreamedBody(io.RawIOBase):
    """A request body read by the application's thread as it arrives: each part comes from granian's event loop, within
    `timeout` seconds (else TimeoutError: the request fails, and its connection with it)."""

    def __init__(self, protocol, loop, timeout: float):
        self.parts, self.loop, self.timeout = aiter(protocol), loop, timeout
        self.pending, self.done = b"", False

    def readable(self):
        return True

    async def next_part(self) -> bytes:
        return await anext(self.parts)

    def readinto(self, buffer) -> int:
        while not self.pending and not self.done:
            try:
                self.pending = asyncio.run_coroutine_threadsafe(self.next_part(), self.loop).result(self.timeout)
            except StopAsyncIteration:
                self.done = True
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


class GranianApplication:
    """A WSGI application behind granian's RSGI interface: granian reads each request's body, then a thread runs it.

    granian's own WSGI interface lends the application's thread to reading the request body (`wsgi.input` waits on
    the socket) and has no time limit for it (granian issue #728, "wontfix"): 64 clients sending a body 2 bytes a
    second held every thread of 2 workers x 2 until their bodies were complete (38 s), and no other request was
    answered meanwhile. Here the body is read on granian's event loop, at most `max_body` + 1 bytes (Django refuses
    more, 413) within `body_timeout` seconds (else 408, and the connection is closed), and only then does one of
    `threads` threads run the application, as gunicorn's would. The answer goes back whole, so a client reading it
    slowly holds no thread either. A GET the read path answers does not reach a thread at all: it is answered on the
    loop (apicore.readpath.LoopReader).

    Two exceptions, for the routes that move files: a body whose Content-Length exceeds `max_body` is read by the
    application as it arrives (`wsgi.input` takes each part from the loop, waiting at most `body_timeout` for it;
    only a view that streams its body, an import's upload, reads it: Django refuses any other with 413 unread); and
    a streaming response (an export, an import's report) is sent part by part as the application makes it, so that
    its first bytes leave at once and a client that goes away stops it. Both hold their thread meanwhile, as
    gunicorn's would.
    """

    def __init__(self, app, *, threads: int, body_timeout: float, max_body: int, multiprocess: bool):
        self.app = app
        self.threads = threads
        self.body_timeout = body_timeout
        self.max_body = max_body
        self.executor: ThreadPoolExecutor | None = None
        self.reader = None
        self.base_environ = {
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": "granian",
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": threads > 1,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }

    def __rsgi_init__(self, loop):
        from apicore.readpath import LoopReader, ReadPath

        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="omnitron")
        # The read path answers on the loop, with as many connections as Django has threads (README: connections).
        self.reader = LoopReader(self.app, self.threads) if isinstance(self.app, ReadPath) else None

    def __rsgi_del__(self, loop):
        self.executor.shutdown(wait=True)

    async def __rsgi__(self, scope, protocol):
        status, size = 500, 0
        headers = scope.headers  # a copy each time it is read
        try:
            body = b""
            loop = asyncio.get_running_loop()
            if self.streamed_body(headers):
                body = StreamedBody(protocol, loop, self.body_timeout)
            elif "transfer-encoding" in headers or headers.get("content-length", "0") != "0":
                try:
                    async with asyncio.timeout(self.body_timeout):
                        body = await self.read_body(protocol, headers)
                except TimeoutError:
                    status, size = 408, len(REQUEST_TIMEOUT_BODY)
                    response = [("content-type", "application/json"), ("connection", "close")]
                    protocol.response_bytes(status, response, REQUEST_TIMEOUT_BODY)
                    return
            environ = self.environ(scope, headers, body)
            app = self.app
            if self.reader is not None and scope.method == "GET" and not body:
                answer = await self.reader.answer(environ)
                if answer is not None:
                    status_line, response, content = answer
                    status, size = int(status_line[:3]), len(content)
                    protocol.response_bytes(status, response, content)
                    return
                app = self.reader.read_path.app  # declined: Django answers, without a second try of the read path
            status, response, content = await loop.run_in_executor(
                self.executor, self.call, app, environ, protocol, loop
            )
            if isinstance(content, int):  # streamed: its size
                size = content
            else:
                size = len(content)
                protocol.response_bytes(status, response, content)
        except Exception:
            error_log.exception("Error handling request %s %s", scope.method, scope.path)
            if status != 408:
                status, size = 500, 0
                try:
                    protocol.response_empty(500, [("connection", "close")])
                except Exception:  # already answered, or the client has gone
                    pass
        finally:
            self.log(scope, headers, status, size)

    def streamed_body(self, headers) -> bool:
        """Whether the body is longer than `max_body`, by its Content-Length: the application reads it as it comes."""
        length = headers.get("content-length", "")
        return "transfer-encoding" not in headers and length.isdigit() and int(length) > self.max_body

    async def read_body(self, protocol, headers) -> bytes:
        length = headers.get("content-length")
        if length is not None and "transfer-encoding" not in headers:
            if int(length) > self.max_body:
                return b""  # Django answers 413 from CONTENT_LENGTH alone
            return await protocol()
        # Chunked: one byte past the limit is enough for Django to refuse it (apicore.wsgi.ChunkedBodyMiddleware).
        parts, received = [], 0
        async for part in protocol:
            parts.append(part)
            received += len(part)
            if received > self.max_body:
                break
        return b"".join(parts)

    @staticmethod
    def call(app, environ: dict, protocol, loop) -> tuple[int, list, bytes | int]:
        """Runs the WSGI application in this (executor) thread: its status, headers and whole body; or, for a
        streaming response (Django's `streaming`), sends it part by part from here and answers its size."""
        started: list = []
        chunks: list[bytes] = []

        def start_response(status, headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [int(status[:3]), headers]
            return chunks.append

        result = app(environ, start_response)
        try:
            if not getattr(result, "streaming", False):
                chunks.extend(result)
                return started[0], started[1], b"".join(chunks)

            transport = None

            async def send(chunk: bytes) -> None:  # on the loop, as granian's protocol wants
                nonlocal transport
                transport = transport or protocol.response_stream(started[0], started[1])
                await transport.send_bytes(chunk)

            size = 0
            for chunk in itertools.chain(chunks, result, [b""]):
                if chunk or transport is None:
                    # Fails once the client has gone: closing the response (below) stops what makes it.
                    asyncio.run_coroutine_threadsafe(send(chunk), loop).result()
                    size += len(chunk)
            return started[0], started[1], size
        finally:
            if hasattr(result, "close"):
                result.close()

    def environ(self, scope, headers, body: "bytes | StreamedBody") -> dict:
        """PEP 3333's environ for the request, with gunicorn's conventions."""
        server_host, _, server_port = scope.server.rpartition(":")
        client_host, _, client_port = scope.client.rpartition(":")
        environ = {
            **self.base_environ,
            "REQUEST_METHOD": scope.method,
            # granian decodes the path's percent escapes as UTF-8; WSGI wants its bytes as latin-1.
            "PATH_INFO": scope.path.encode().decode("latin-1"),
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": server_host.strip("[]"),
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": "HTTP/1.0" if scope.http_version == "1" else f"HTTP/{scope.http_version}",
            "REMOTE_ADDR": client_host.strip("[]"),
            "REMOTE_PORT": client_port,
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": body if isinstance(body, StreamedBody) else io.BytesIO(body),
        }
        named = set()
        for name, value in headers.items():
            named.add(name)
            if key := self.environ_key(name):
                environ[key] = (
                    f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}" if key in environ else value
                )
        if len(named) < len(headers):
            # granian leaves out values that are not visible ASCII (gunicorn passes them as latin-1): the application
            # sees the header empty, so that an invalid If-Match or Idempotency-Key is refused, not ignored.
            for name in headers.keys():
                if name not in named and (key := self.environ_key(name)):
                    environ[key] = ""
        return environ

    @staticmethod
    def environ_key(name: str) -> str | None:
        if "_" in name:
            return None  # gunicorn's header_map "drop": X_Forwarded_For must not pass for X-Forwarded-For
        key = name.upper().replace("-", "_")
        return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"

    @staticmethod
    def log(scope, headers, status: int, size: int) -> None:
        """One line per request in gunicorn's default access log format."""
        if not access_log.isEnabledFor(logging.INFO):
            return
        target = quote(scope.path, safe="/!$&'()*+,;=:@-._~") + (f"?{scope.query_string}" if scope.query_string else "")
        access_log.info(
            '%s - - %s "%s %s HTTP/%s" %d %s "%s" "%s"',
            scope.client.rpartition(":")[0].strip("[]"),
            time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
            scope.method,
            target,
            "1.0" if scope.http_version == "1" else scope.http_version,
            status,
            size or "-",
            headers.get("referer", "-"),
            headers.get("user-agent", "-"),
        )
