"""What only the production server (gunicorn) can show: long request lines, chunked bodies, redirects, keep-alive."""

import json
import time

import pytest

from tests.contract.conftest import send_early_answered


def request(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None, chunked=False):
    conn = server.connection()
    headers = {"Authorization": f"Token {server.token}", "Content-Type": "application/json", **(headers or {})}
    if chunked:
        conn.putrequest(method, path)
        for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
            conn.putheader(name, value)
        conn.endheaders()

        def send():
            for part in (body[: len(body) // 2], body[len(body) // 2 :]):
                conn.send(b"%x\r\n%s\r\n" % (len(part), part))
            conn.send(b"0\r\n\r\n")

        send_early_answered(send)
    else:
        send_early_answered(lambda: conn.request(method, path, body=body, headers=headers))
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, json.loads(data) if data else None


def new_customer(server, code: str) -> dict:
    body = {"email": f"{code}@example.com", "channel_code": code, "is_active": True, "email_allowed": False,
            "sms_allowed": False, "call_allowed": False}  # fmt: skip
    response, created = request(server, "POST", "/api/v1/customers/", json.dumps(body).encode())
    assert response.status == 201, created
    return created


def test_pk_in_with_1000_ids_fits_in_the_request_line(omnitron_server):
    created = new_customer(omnitron_server, "long-line")
    ids = [10**15 + n for n in range(999)] + [created["pk"]]
    path = "/api/v1/customers/?limit=1000&pk__in=" + ",".join(map(str, ids))
    assert len(path) > 16_000
    response, body = request(omnitron_server, "GET", path)
    assert response.status == 200
    assert [row["pk"] for row in body] == [created["pk"]]


def test_chunked_patch_is_applied_not_dropped(omnitron_server):
    created = new_customer(omnitron_server, "chunked")
    path = f"/api/v1/customers/{created['pk']}/"
    response, body = request(
        omnitron_server, "PATCH", path, json.dumps({"first_name": "Chunky"}).encode(), chunked=True
    )
    assert response.status == 200
    assert body["first_name"] == "Chunky"
    assert request(omnitron_server, "GET", path)[1]["first_name"] == "Chunky"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413_json(omnitron_server, chunked):
    body = json.dumps({"extra_field": {"x": "y" * (2 * 1024 * 1024)}}).encode()
    response, answer = request(omnitron_server, "POST", "/api/v1/customers/", body, chunked=chunked)
    assert response.status == 413
    assert answer["code"] == "request_too_large"


def test_post_without_trailing_slash_is_redirected_with_308(omnitron_server):
    response, answer = request(omnitron_server, "POST", "/api/v1/customers", b"{}")
    assert answer["code"] == "moved"
    assert response.status == 308
    assert response.getheader("Location") == "/api/v1/customers/"
    assert response.getheader("Content-Type") == "application/json"


def test_idle_connection_outlives_a_load_balancers_pause(omnitron_server):
    # gunicorn's own default closes a connection idle for 2 s; a client (or a load balancer) reusing it then fails.
    conn = omnitron_server.connection()
    headers = {"Authorization": f"Token {omnitron_server.token}"}
    try:
        conn.request("GET", "/api/v1/active_user/", headers=headers)
        first = conn.getresponse()
        first.read()
        assert first.status == 200
        sock = conn.sock
        time.sleep(3)
        conn.request("GET", "/api/v1/active_user/", headers=headers)
        second = conn.getresponse()
        second.read()
        assert second.status == 200
        assert conn.sock is sock  # the same connection, not a new one
    finally:
        conn.close()


def raw_get(server, path: str, headers: dict) -> tuple[int, dict, bytes]:
    conn = server.connection()
    try:
        headers = {"Authorization": f"Token {server.token}", "X-Request-ID": "compared", **headers}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_granian_answers_reads_on_its_event_loop_as_drf_answers_them(omnitron_server):
    import psycopg

    if omnitron_server.server != "granian" or not omnitron_server.env["DATABASE_URL"].startswith("postgres"):
        pytest.skip("the read path answers on granian's event loop, on PostgreSQL")
    customers, (web, _) = omnitron_server.seeded["customers"], omnitron_server.seeded["channels"]
    paths = [
        f"/api/v1/customers/{customers[0]}/",
        f"/api/v1/customers/{customers[0]}/detailed/",
        f"/api/v1/channel/{web}/customers/{customers[1]}/",
        f"/api/v1/channels/{web}/",
        "/api/v1/customers/?limit=2&page=2",
        "/api/v1/customers/?email__startswith=JOHN&sort=-email",
        "/api/v1/customers/detailed/?limit=3",
        "/api/v1/orders/",
    ]
    for path in paths:
        etag = raw_get(omnitron_server, path, {})[1].get("etag")  # records have one
        for extra in ({}, {"If-None-Match": etag}) if etag else ({},):
            status, headers, body = raw_get(omnitron_server, path, extra)
            # A header the read path does not know sends the same request to Django (DRF) in a thread.
            drf_status, drf_headers, drf_body = raw_get(omnitron_server, path, {**extra, "X-Compare": "1"})
            # Workers count the rate limit apart (the default cache is the process's own) and the clock moves.
            for varies in ("date", "ratelimit-remaining", "ratelimit-reset"):
                assert varies in headers and varies in drf_headers, (path, varies)
                del headers[varies], drf_headers[varies]
            assert (status, headers, body) == (drf_status, drf_headers, drf_body), path
            assert status == (304 if extra else 200), path
    with psycopg.connect(omnitron_server.env["DATABASE_URL"]) as conn:
        sessions = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            ["omnitron read path"],
        ).fetchall()
    # The read path's own connections (apicore.readpath.LoopReader) read the answers, at most 2 x 2 of them.
    assert 1 <= len(sessions) <= 4
    assert all(query.startswith("WITH auth AS") for (query,) in sessions)
