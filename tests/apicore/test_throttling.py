"""Rate limits: requests per token (429 + RateLimit-* fields), failed logins per username and per client address."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from knox.models import AuthToken
from rest_framework.test import APIClient

from apicore import throttling
from apicore.throttling import Rate, Window, parse_rate

CUSTOMERS = "/api/v1/customers/"
LOGIN = "/api/v1/auth/login/"
GOOD = {"username": "integrator", "password": "s3cret-pass"}
WRONG = {"username": "integrator", "password": "wrong"}
REDIS_URL = os.environ.get("OMNITRON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WINDOW_START = 60 * 28_000_000  # a minute (and hour) boundary


@pytest.fixture
def clock(monkeypatch):
    """Time stands still one second into a window, so a test never straddles two windows."""
    now = [WINDOW_START + 1.0]
    monkeypatch.setattr(throttling, "clock", lambda: now[0])
    return now


def client_for(user, **extra) -> APIClient:
    _, key = AuthToken.objects.create(user=user)
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def login(body: dict, address: str = "10.0.0.1", **headers):
    return APIClient().post(LOGIN, body, format="json", REMOTE_ADDR=address, **headers)


# --- The rate's format --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [("6000/minute", Rate(6000, 60)), ("1/second", Rate(1, 1)), (" 5/HOUR ", Rate(5, 3600)), ("7/day", Rate(7, 86400))],
)
def test_rates_parse(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["off", "OFF", " off "])
def test_off_is_no_limit(text):
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["", "6000", "0/minute", "-1/minute", "10/min", "10/minutes", "1.5/second", "x/day"])
def test_malformed_rates_are_refused(text):
    with pytest.raises(ImproperlyConfigured, match="OMNITRON_RATE_LIMIT"):
        parse_rate(text, "OMNITRON_RATE_LIMIT")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OMNITRON_RATE_LIMIT", "lots"),
        ("OMNITRON_LOGIN_RATE_LIMIT", "30/fortnight"),
        ("CACHE_URL", "memcached://127.0.0.1:11211"),
        ("OMNITRON_NUM_PROXIES", "-1"),
    ],
)
def test_a_bad_setting_stops_startup(name, value, tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "omnitron.settings", "OMNITRON_VAR_DIR": str(tmp_path), name: value}
    result = subprocess.run(
        [sys.executable, "-m", "omnitron", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


# --- Per token ----------------------------------------------------------------------------------------------------


def test_every_limited_response_carries_the_ratelimit_fields(api, settings, clock):
    settings.OMNITRON_RATE_LIMIT = "5/minute"
    first = api.get(CUSTOMERS)
    assert first.status_code == 200
    assert first["RateLimit-Limit"] == "5"
    assert first["RateLimit-Remaining"] == "4"
    assert first["RateLimit-Reset"] == "59"
    assert first["RateLimit-Policy"] == "5;w=60"
    # Errors count and carry them too.
    missing = api.get("/api/v1/customers/999999/")
    assert missing.status_code == 404
    assert missing["RateLimit-Remaining"] == "3"


def test_the_default_limit_is_6000_a_minute(api):
    response = api.get(CUSTOMERS)
    assert response["RateLimit-Limit"] == "6000"
    assert response["RateLimit-Policy"] == "6000;w=60"


def test_over_the_limit_is_429_json_with_retry_after(api, settings, clock):
    settings.OMNITRON_RATE_LIMIT = "3/minute"
    assert [api.get(CUSTOMERS).status_code for _ in range(3)] == [200, 200, 200]
    clock[0] += 19.5
    response = api.post(CUSTOMERS, {}, format="json")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "throttled"
    assert response["Retry-After"] == "40"
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit-Reset"] == "40"
    # Refused requests do not extend the wait; the next window starts afresh.
    assert api.get(CUSTOMERS).status_code == 429
    clock[0] = WINDOW_START + 60
    response = api.get(CUSTOMERS)
    assert response.status_code == 200
    assert response["RateLimit-Remaining"] == "2"


def test_each_token_has_its_own_budget(api, user, settings, clock):
    settings.OMNITRON_RATE_LIMIT = "2/minute"
    other = client_for(user)  # the same user's second token
    assert [api.get(CUSTOMERS).status_code for _ in range(3)] == [200, 200, 429]
    response = other.get(CUSTOMERS)
    assert response.status_code == 200
    assert response["RateLimit-Remaining"] == "1"


def test_off_disables_the_limit(api, settings, clock):
    settings.OMNITRON_RATE_LIMIT = "off"
    responses = [api.get(CUSTOMERS) for _ in range(5)]
    assert {r.status_code for r in responses} == {200}
    assert "RateLimit-Limit" not in responses[-1]


def test_requests_without_a_valid_token_are_refused_before_counting(anon, settings, clock):
    settings.OMNITRON_RATE_LIMIT = "1/minute"
    for _ in range(3):
        response = anon.get(CUSTOMERS)
        assert response.status_code == 401
        assert "RateLimit-Limit" not in response


UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


def test_an_unreachable_cache_server_leaves_requests_unlimited(api, settings, clock, caplog):
    settings.OMNITRON_RATE_LIMIT = "1/minute"
    settings.CACHES = UNREACHABLE_CACHE
    assert [api.get(CUSTOMERS).status_code for _ in range(2)] == [200, 200]
    assert "rate limit not applied" in caplog.text


def test_an_unreachable_cache_server_leaves_logins_unlimited(user, settings, clock, caplog):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "1/minute"
    settings.CACHES = UNREACHABLE_CACHE
    assert [login(WRONG).status_code for _ in range(2)] == [400, 400]
    assert login(GOOD).status_code == 200
    assert "login rate limit not applied" in caplog.text


# --- Failed logins ------------------------------------------------------------------------------------------------


def test_failed_logins_are_limited_per_username_from_any_address(user, settings, clock):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "3/minute"
    assert [login(WRONG, f"10.0.0.{i}").status_code for i in range(3)] == [400, 400, 400]
    # The username's budget is spent: the right password from a fresh address waits for the next window too,
    # or a guesser would recognise it by its 200.
    refused = login(GOOD, "10.0.9.9")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert refused["Retry-After"] == "59"
    assert refused["RateLimit-Remaining"] == "0"
    # Other usernames from fresh addresses are not affected.
    assert login({"username": "someone-else", "password": "x"}, "10.0.9.9").status_code == 400
    clock[0] = WINDOW_START + 60
    assert login(GOOD, "10.0.9.9").status_code == 200


def test_failed_logins_are_limited_per_address_for_any_username(user, settings, clock):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "3/minute"
    assert [login({"username": f"guess-{i}", "password": "x"}).status_code for i in range(3)] == [400, 400, 400]
    assert login(GOOD, "10.0.0.1").status_code == 429
    assert login(GOOD, "10.0.0.2").status_code == 200


def test_successful_logins_never_use_the_budget(user, settings, clock):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "2/minute"
    responses = [login(GOOD) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert responses[-1]["RateLimit-Remaining"] == "2"
    first_failure = login(WRONG)
    assert first_failure.status_code == 400
    assert first_failure["RateLimit-Remaining"] == "1"
    assert login(GOOD).status_code == 200


def test_refused_attempts_do_not_count_against_the_username(user, settings, clock):
    # An address that used its budget on other names cannot go on to lock `integrator` out.
    settings.OMNITRON_LOGIN_RATE_LIMIT = "2/minute"
    assert [login({"username": f"guess-{i}", "password": "x"}).status_code for i in range(2)] == [400, 400]
    assert [login(WRONG).status_code for _ in range(5)] == [429] * 5
    assert login(GOOD, "10.0.0.2").status_code == 200


@pytest.mark.parametrize("body", [{}, {"username": "integrator"}, {"username": "", "password": ""}])
def test_incomplete_requests_are_not_login_attempts(user, settings, clock, body):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "1/minute"
    assert [login(body).status_code for _ in range(3)] == [400] * 3
    assert login(GOOD).status_code == 200


def test_login_limit_off(user, settings, clock):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "off"
    assert {login(WRONG).status_code for _ in range(5)} == {400}
    assert login(GOOD).status_code == 200


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(user, settings, clock):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "2/minute"
    # By default a client cannot pose as many addresses through X-Forwarded-For.
    for i in range(2):
        assert (
            login({"username": f"guess-{i}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code == 400
        )
    assert login(GOOD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_behind_trusted_proxies_the_forwarded_address_counts(user, settings, clock):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "2/minute"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.9.9.9"  # every request arrives from the load balancer
    for i in range(2):
        body = {"username": f"guess-{i}", "password": "x"}
        assert login(body, proxy, HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.7").status_code == 400
    assert login(GOOD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    assert login(GOOD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200


# --- Shared counters through Redis --------------------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings):
    """The cache on the Redis server at REDIS_URL, under a key prefix of this test's own; its keys removed after."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis server at {REDIS_URL} ({exc}); set OMNITRON_TEST_REDIS_URL")
    prefix = f"omnitron-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield prefix
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_the_token_limit_is_counted_in_redis(api, settings, clock, redis_cache):
    settings.OMNITRON_RATE_LIMIT = "3/minute"
    assert [api.get(CUSTOMERS).status_code for _ in range(4)] == [200, 200, 200, 429]
    import redis

    keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{redis_cache}:*ratelimit:token:*"))
    assert len(keys) == 1


def test_the_login_limit_is_counted_in_redis(user, settings, clock, redis_cache):
    settings.OMNITRON_LOGIN_RATE_LIMIT = "2/minute"
    assert [login(WRONG).status_code for _ in range(3)] == [400, 400, 429]


COUNT_IN_A_PROCESS = """
import json, sys
import django
django.setup()
from apicore.throttling import Window
window = Window(sys.argv[1], 60)
print(json.dumps([window.add() for _ in range(int(sys.argv[2]))]))
"""


def test_worker_processes_share_one_exact_counter(redis_cache, tmp_path):
    """Processes hitting one window at once, as gunicorn's workers do: every count is handed out exactly once."""
    key = f"ratelimit:test:{uuid.uuid4().hex}"
    processes, hits = 4, 50
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omnitron.settings",
        "OMNITRON_VAR_DIR": str(tmp_path),
        "CACHE_URL": REDIS_URL,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", COUNT_IN_A_PROCESS, key, str(hits)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    counts = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        counts.extend(json.loads(out.strip().splitlines()[-1]))
    assert sorted(counts) == list(range(1, processes * hits + 1))
    # The processes used the server's prefix ("omnitron"), not this test's: read the count the same way.
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    full_key = f"omnitron:1:{key}"
    assert int(client.get(full_key)) == processes * hits
    assert 0 < client.ttl(full_key) <= 60 + throttling.KEY_GRACE
    client.delete(full_key)


def test_a_windows_counter_expires_after_the_window(clock):
    window = Window.current("token", "abc", Rate(10, 60))
    assert window.reset == 59
    assert window.add() == 1
    assert window.add() == 2
    assert cache.get(window.key) == 2
    clock[0] += 60
    assert Window.current("token", "abc", Rate(10, 60)).add() == 1
