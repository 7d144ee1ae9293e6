"""Records the SQL the service sends for given requests: bench/ceiling.py runs this with the benchmark's environment.

Each request goes through the whole Django stack in-process (`django.test.Client`, the same middleware, token
authentication and views as under gunicorn) inside `CaptureQueriesContext`. The psycopg backend binds parameters on
the client, so every captured statement is the exact text PostgreSQL received, literals included. Django logs the
transaction control of `atomic()` too (BEGIN, COMMIT, SAVEPOINT ...). Not captured: the connection pool's own check
before it hands out a connection (psycopg_pool sends an empty query), which no SQL script can repeat.

Input (a JSON file named by the only argument): {"token": ..., "requests": {scenario: [[method, path, body], ...]}}.
Output on stdout: {scenario: [{"status": ..., "statements": [sql, ...]}, ...]}.
"""

import json
import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnitron.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    with open(sys.argv[1]) as f:
        spec = json.load(f)
    client = Client(HTTP_AUTHORIZATION=f"Token {spec['token']}", HTTP_HOST="127.0.0.1")

    def send(method: str, path: str, body: str | None):
        return client.generic(method, path, data=body or "", content_type="application/json")

    captured = {}
    for scenario, requests in spec["requests"].items():
        send("GET", "/api/v1/customers/?limit=1", None)  # first-use work (caches, content types) is not per request
        captured[scenario] = []
        for method, path, body in requests:
            with CaptureQueriesContext(connection) as queries:
                response = send(method, path, body)
            statements = [query["sql"] for query in queries.captured_queries]
            captured[scenario].append({"status": response.status_code, "statements": statements})
    json.dump(captured, sys.stdout)


if __name__ == "__main__":
    main()
