"""`omnitron serve --server granian`'s adapter (GranianApplication), in process, with stand-ins for granian's RSGI
scope and protocol: the WSGI environ it builds, the body it reads and the answers it gives. The live-server tests
(tests/contract/) run it under granian itself."""

import asyncio
import json

import pytest

from omnitron.management.commands.serve import GranianApplication

MAX_BODY = 100


class Headers:
    """granian's RSGIHeaders: lower-case names; `items()` and `get()` leave out values that are not visible ASCII."""

    def __init__(self, pairs: list[tuple[str, bytes]]):
        self.pairs = pairs

    def items(self):
        return [(name, value.decode()) for name, value in self.pairs if value.isascii()]

    def keys(self):
        return list(dict.fromkeys(name for name, _ in self.pairs))

    def get(self, name, default=None):
        return next((value for key, value in self.items() if key == name), default)

    def __contains__(self, name):
        return name in self.keys()

    def __len__(self):
        return len(self.keys())


class Scope:
    def __init__(
        self, method="GET", path="/", query_string="", headers=(), http_version="1.1", client="127.0.0.1:5000"
    ):
        self.proto, self.scheme, self.server = "http", "https", "127.0.0.1:8443"
        self.method, self.path, self.query_string, self.http_version, self.client = (
            method, path, query_string, http_version, client,
        )  # fmt: skip
        self.headers = Headers(
            [(name, value if isinstance(value, bytes) else value.encode()) for name, value in headers]
        )


class Protocol:
    """granian's RSGIHTTPProtocol: the body at once (`await protocol()`) or in parts (`async for`), then one answer."""

    def __init__(self, parts: list[bytes] = (), stall: bool = False):
        self.parts, self.stall, self.answer, self.read = list(parts), stall, None, 0

    async def __call__(self):
        return b"".join([part async for part in self])

    async def __aiter__(self):
        for part in self.parts:
            self.read += len(part)
            yield part
        if self.stall:
            await asyncio.sleep(3600)

    def response_bytes(self, status, headers, body):
        self.answer = (status, headers, body)

    def response_empty(self, status, headers):
        self.answer = (status, headers, b"")


def serve(app, scope, protocol):
    async def run():
        app.__rsgi_init__(asyncio.get_running_loop())
        try:
            await app.__rsgi__(scope, protocol)
        finally:
            app.__rsgi_del__(None)

    asyncio.run(run())
    return protocol.answer


class Echo:
    """A WSGI application answering its environ (without the input) and the body it read."""

    def __init__(self):
        self.closed = False

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "application/json")])
        seen = {key: value for key, value in environ.items() if isinstance(value, str)}
        return self.Result(self, [json.dumps({"environ": seen, "body": body.decode()}).encode()])

    class Result(list):
        def __init__(self, app, chunks):
            super().__init__(chunks)
            self.app = app

        def close(self):
            self.app.closed = True


def adapter(app, body_timeout=5.0):
    return GranianApplication(app, threads=2, body_timeout=body_timeout, max_body=MAX_BODY, multiprocess=True)


def test_the_environ_follows_pep_3333_and_gunicorns_conventions():
    scope = Scope(
        method="PATCH",
        path="/api/v1/customers/é/",  # granian decodes %C3%A9
        query_string="email=a%40b.c&x=1",
        client="[::1]:43210",
        headers=[
            ("host", "localhost"),
            ("content-type", "application/json"),
            ("content-length", "2"),
            ("accept", "application/json"),
            ("accept", "text/html"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("x_forwarded_for", "10.0.0.1"),  # an underscore: dropped, as gunicorn drops it
            ("if-match", b'"\xe9"'),  # not ASCII: granian leaves it out, the application sees it empty
        ],
    )
    app = Echo()
    status, headers, content = serve(adapter(app), scope, Protocol([b"{}"]))
    assert (status, headers) == (201, [("Content-Type", "application/json")])
    answer = json.loads(content)
    assert answer["body"] == "{}"
    environ = answer["environ"]
    assert {key: environ.get(key) for key in environ if key.startswith(("HTTP_", "CONTENT_"))} == {
        "HTTP_HOST": "localhost",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "HTTP_ACCEPT": "application/json,text/html",
        "HTTP_COOKIE": "a=1; b=2",
        "HTTP_IF_MATCH": "",
    }
    assert environ["REQUEST_METHOD"] == "PATCH"
    assert environ["PATH_INFO"] == "/api/v1/customers/é/".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "email=a%40b.c&x=1"
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("::1", "43210")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8443")
    assert (environ["SERVER_PROTOCOL"], environ["wsgi.url_scheme"], environ["SCRIPT_NAME"]) == ("HTTP/1.1", "https", "")
    assert app.closed  # the response's close(): Django's request_finished, its connection back to the pool


def test_a_chunked_body_is_read_up_to_one_byte_past_the_limit():
    parts = [b"x" * 60, b"y" * 60, b"z" * 60]
    protocol = Protocol(parts)
    scope = Scope(method="POST", headers=[("transfer-encoding", "chunked")])
    status, _, content = serve(adapter(Echo()), scope, protocol)
    assert status == 201
    assert json.loads(content)["body"] == "x" * 60 + "y" * 60  # enough for Django to answer 413
    assert protocol.read == 120


def test_a_declared_body_over_the_limit_is_read_only_as_the_application_reads_it():
    # An import's upload: the application takes it part by part from the loop; one that reads none (any other route:
    # Django refuses it by its Content-Length, 413) leaves it unread.
    parts = [b"x" * 60, b"y" * 41]
    protocol = Protocol(parts)
    scope = Scope(method="POST", headers=[("content-length", str(MAX_BODY + 1))])
    status, _, content = serve(adapter(Echo()), scope, protocol)
    assert (status, json.loads(content)["body"]) == (201, "x" * 60 + "y" * 41)

    def reads_ten(environ, start_response):
        body = environ["wsgi.input"].read(10)
        start_response("200 OK", [])
        return [body]

    protocol = Protocol(parts)
    assert serve(adapter(reads_ten), scope, protocol)[2] == b"x" * 10 and protocol.read == 60

    def refuses(environ, start_response):
        start_response("413 Request Entity Too Large", [])
        return []

    protocol = Protocol(parts)
    assert serve(adapter(refuses), scope, protocol)[0] == 413 and protocol.read == 0


def test_a_declared_body_over_the_limit_that_stalls_fails_the_request():
    protocol = Protocol([b"x" * 10], stall=True)
    scope = Scope(method="POST", headers=[("content-length", str(MAX_BODY + 1))])
    status, _, _ = serve(adapter(Echo(), body_timeout=0.2), scope, protocol)
    assert status == 500  # the application met TimeoutError (an import answers it 408 itself)


class Streaming:
    """A WSGI application answering a Django-style streaming response (`streaming = True`), noting how far it got."""

    def __init__(self, parts: int):
        self.parts, self.made, self.closed = parts, 0, False

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "application/jsonl")])
        app = self

        class Result:
            streaming = True

            def __iter__(self):
                for n in range(app.parts):
                    app.made += 1
                    yield f"{n}\n".encode()

            def close(self):
                app.closed = True

        return Result()


class StreamProtocol(Protocol):
    """granian's response_stream: each part sent, or a client that goes away after `keep` parts."""

    def __init__(self, keep: int | None = None):
        super().__init__()
        self.sent, self.keep = [], keep

    def response_stream(self, status, headers):
        protocol = self
        self.answer = (status, headers, None)

        class Transport:
            async def send_bytes(self, data):
                if protocol.keep is not None and len(protocol.sent) >= protocol.keep:
                    raise RuntimeError("the client has gone")
                protocol.sent.append(data)

        return Transport()


def test_a_streaming_response_is_sent_part_by_part():
    app, protocol = Streaming(5), StreamProtocol()
    serve(adapter(app), Scope(), protocol)
    assert protocol.answer[0] == 200 and protocol.sent == [b"0\n", b"1\n", b"2\n", b"3\n", b"4\n"]
    assert app.closed


def test_a_client_that_goes_away_stops_a_streaming_response():
    app, protocol = Streaming(1000), StreamProtocol(keep=3)
    serve(adapter(app), Scope(), protocol)
    assert protocol.sent == [b"0\n", b"1\n", b"2\n"]
    assert app.made == 4 and app.closed  # it made the part it could not send, and no more


@pytest.mark.parametrize("length", ["10", None], ids=["content-length", "chunked"])
def test_a_body_not_received_in_time_is_408_and_never_reaches_the_application(length):
    called = []
    headers = [("content-length", length)] if length else [("transfer-encoding", "chunked")]
    status, headers, content = serve(
        adapter(lambda environ, start_response: called.append(environ), body_timeout=0.2),
        Scope(method="POST", headers=headers),
        Protocol([b"abc"], stall=True),
    )
    assert status == 408
    assert ("connection", "close") in headers
    assert json.loads(content)["code"] == "request_timeout"
    assert called == []


def test_an_application_that_fails_answers_500():
    def broken(environ, start_response):
        raise RuntimeError("boom")

    status, _, content = serve(adapter(broken), Scope(), Protocol())
    assert (status, content) == (500, b"")
