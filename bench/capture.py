"""Records the SQL the service sends for given requests: bench/ceiling.py runs this with the benchmark's environment.

A GET goes first to the read path (apicore.readpath), as under the server: when it answers, its one statement is
recorded with its parameters written in (psycopg's mogrify of the statement it sent). Anything else goes through the
whole Django stack in-process (`django.test.Client`, the same middleware, token authentication and views as under
the server) inside `CaptureQueriesContext`. The psycopg backend binds Django's parameters on the client, so every
captured statement is the exact text PostgreSQL received, literals included. Django logs the transaction control of
`atomic()` too (BEGIN, COMMIT, SAVEPOINT ...).

Input (a JSON file named by the only argument): {"token": ..., "requests": {scenario: [[method, path, body], ...]}}.
Output on stdout: {scenario: [{"status": ..., "statements": [sql, ...]}, ...]}.
"""

import io
import json
import os
import sys

import django
import psycopg


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnitron.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apicore.readpath import ReadPath

    with open(sys.argv[1]) as f:
        spec = json.load(f)
    client = Client(HTTP_AUTHORIZATION=f"Token {spec['token']}", HTTP_HOST="127.0.0.1")

    def send(method: str, path: str, body: str | None):
        return client.generic(method, path, data=body or "", content_type="application/json")

    read_path = ReadPath(app=None)
    sent = []
    execute = psycopg.Cursor.execute

    def recording(cursor, query, params=None, **kwargs):
        sent.append(psycopg.ClientCursor(cursor.connection).mogrify(query, params))
        return execute(cursor, query, params, **kwargs)

    psycopg.Cursor.execute = recording

    def through_read_path(path: str):
        path, _, query = path.partition("?")
        sent.clear()
        answer = read_path.answer(
            {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
             "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "HTTP_AUTHORIZATION": f"Token {spec['token']}",
             "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b"")}
        )  # fmt: skip
        return None if answer is None else {"status": int(answer[0].split()[0]), "statements": list(sent)}

    captured = {}
    for scenario, requests in spec["requests"].items():
        send("GET", "/api/v1/customers/?limit=1", None)  # first-use work (caches, content types) is not per request
        captured[scenario] = []
        for method, path, body in requests:
            answer = through_read_path(path) if method == "GET" else None
            if answer is None:
                with CaptureQueriesContext(connection) as queries:
                    response = send(method, path, body)
                statements = [query["sql"] for query in queries.captured_queries]
                answer = {"status": response.status_code, "statements": statements}
            captured[scenario].append(answer)
    json.dump(captured, sys.stdout)


if __name__ == "__main__":
    main()
