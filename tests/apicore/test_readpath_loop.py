"""The read path on an event loop (apicore.readpath.LoopReader, what `omnitron serve` runs on granian's loop):
it answers exactly what ReadPath.answer answers (itself proven equal to DRF in test_readpath), with connections of
its own, bounded, replaced when they fail. Its connections do not see a test's transaction: the data here is
committed (transactional tests).
"""

import asyncio
from urllib.parse import urlencode

import psycopg
import pytest
from django.core.cache import cache
from django.db import connection

from apicore import readpath, throttling
from tests.apicore.test_readpath import ROUTES, environ, list_path, postgresql, record_paths

pytestmark = [postgresql, pytest.mark.django_db(transaction=True), pytest.mark.no_read_path_shadow]


@pytest.fixture
def auth(token) -> dict:
    return {"Authorization": f"Token {token}", "X-Request-ID": "compared"}  # else each answer has a new one


@pytest.fixture
def one_window(monkeypatch):
    monkeypatch.setattr(throttling, "clock", lambda: 1_000_000.5)  # one rate-limit window for every request


def loop_answers(urls: list[str], headers: dict, size: int = 2) -> tuple[list, readpath.LoopReader]:
    """Each URL answered on one event loop by a LoopReader, concurrently; its connections closed afterwards."""

    async def main():
        reader = readpath.LoopReader(readpath.ReadPath(app=None), size)
        try:
            return await asyncio.gather(*(reader.answer(environ(url, headers)) for url in urls)), reader
        finally:
            await close(reader)

    return asyncio.run(main())


async def close(reader: readpath.LoopReader) -> None:
    while not reader.idle.empty():
        if (connection_ := reader.idle.get_nowait()) is not None:
            await connection_.close()


def test_records_and_lists_are_answered_as_the_read_path_answers_them(records, auth, one_window):
    urls = record_paths(records)
    route = ROUTES["customers"]
    scope = route.scope()
    url = list_path(route, scope, "list")
    urls += [url, f"{url}?limit=1", f"{url}?limit=2&page=2", f"{url}?{urlencode({'sort': '-email'})}"]
    for filter_name, case in route.filters.items():
        value, _, _ = case(route, scope)
        urls.append(f"{url}?{urlencode({filter_name: value})}")
    urls.append(f"{list_path(route, scope, 'detailed_list')}?limit=2")
    expected = []
    for url in urls:
        cache.clear()
        expected.append(readpath.ReadPath(app=None).answer(environ(url, auth)))
    answers = []
    for url in urls:  # one at a time: each counted from a cleared rate limit, as above
        cache.clear()
        answers += loop_answers([url], auth)[0]
    assert [answer is not None for answer in expected] == [True] * len(urls)
    assert answers == expected


def test_what_the_read_path_declines_the_loop_declines(records, auth):
    rich = records["rich"]
    urls = [f"/api/v1/customers/{rich.pk}/", f"/api/v1/customers/{rich.pk + 1000}/", "/api/v1/customers/?limit=x"]
    answers, _ = loop_answers(urls, {"Authorization": "Token " + "0" * 64})
    assert answers == [None, None, None]  # an unknown token
    answers, _ = loop_answers(urls, auth)
    assert answers[0][0] == "200 OK" and answers[1:] == [None, None]  # a missing record, an invalid limit


def test_concurrent_answers_share_at_most_size_connections(records, auth):
    url = f"/api/v1/customers/{records['rich'].pk}/"
    answers, reader = loop_answers([url] * 12, auth, size=2)
    assert [answer[0] for answer in answers] == ["200 OK"] * 12
    assert reader.opened == 2


def test_a_connection_that_fails_is_replaced_and_the_request_goes_to_django(records, auth):
    url = f"/api/v1/customers/{records['rich'].pk}/"

    async def main():
        reader = readpath.LoopReader(readpath.ReadPath(app=None), 1)
        try:
            first = await reader.answer(environ(url, auth))
            (held,) = [reader.idle.get_nowait()]
            reader.idle.put_nowait(held)
            async with await reader.connect() as other:  # the database ends the session (a restart, say)
                await other.execute("SELECT pg_terminate_backend(%s)", [held.info.backend_pid])
            failed = await reader.answer(environ(url, auth))
            after = await reader.answer(environ(url, auth))
            replacement = reader.idle.get_nowait()
            reader.idle.put_nowait(replacement)
            return first, failed, after, held.closed, replacement is not held, reader.opened
        finally:
            await close(reader)

    first, failed, after, closed, replaced, opened = asyncio.run(main())
    assert first[0] == "200 OK" and after[0] == "200 OK"
    assert failed is None  # Django answers it (with its own connection)
    assert closed and replaced and opened == 1


def test_requests_waiting_for_a_connection_that_fails_are_answered(records, auth):
    url = f"/api/v1/customers/{records['rich'].pk}/"

    async def main():
        reader = readpath.LoopReader(readpath.ReadPath(app=None), 1)
        try:
            await reader.answer(environ(url, auth))
            held = reader.idle.get_nowait()
            reader.idle.put_nowait(held)
            async with await reader.connect() as other:
                await other.execute("SELECT pg_terminate_backend(%s)", [held.info.backend_pid])
            # The first takes the ended connection and fails; the two waiting must not wait for it forever.
            async with asyncio.timeout(10):
                return await asyncio.gather(*(reader.answer(environ(url, auth)) for _ in range(3)))
        finally:
            await close(reader)

    answers = asyncio.run(main())
    assert answers[0] is None and [answer[0] for answer in answers[1:]] == ["200 OK", "200 OK"]


def test_no_connection_within_the_pool_timeout_goes_to_django(records, auth, settings, monkeypatch):
    url = f"/api/v1/customers/{records['rich'].pk}/"

    async def unreachable(reader):
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(readpath.LoopReader, "connect", unreachable)

    async def main():
        reader = readpath.LoopReader(readpath.ReadPath(app=None), 1)
        return await reader.answer(environ(url, auth)), reader.opened

    assert asyncio.run(main()) == (None, 0)


def test_its_connections_have_djangos_session_settings(db):
    async def main():
        reader = readpath.LoopReader(readpath.ReadPath(app=None), 1)
        conn = await reader.connect()
        try:
            cursor = await conn.execute("SELECT current_setting('TimeZone'), current_setting('plan_cache_mode')")
            return await cursor.fetchone(), conn.info.parameter_status("application_name"), conn.autocommit
        finally:
            await conn.close()

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('TimeZone'), current_setting('plan_cache_mode')")
        django_settings = cursor.fetchone()
    settings_, application_name, autocommit = asyncio.run(main())
    assert settings_ == django_settings == ("UTC", "force_generic_plan")
    assert application_name == readpath.LoopReader.APPLICATION_NAME
    assert autocommit
