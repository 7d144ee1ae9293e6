"""Rate limits: requests per token, failed logins per username and per client address.

Every limit is a fixed window counted with atomic cache operations (`cache.incr`, `cache.add` for a window's first
hit), so no hit is lost between concurrent requests: DRF's SimpleRateThrottle reads a list of timestamps and writes
it back, and two workers doing that at once each drop the other's hit. The counters are shared by every worker and
server when the cache is a server (CACHE_URL, Redis); with the default LocMemCache each worker process counts alone.

Limited responses carry RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and RateLimit-Policy
(draft-ietf-httpapi-ratelimit-headers-06); a refused request answers 429 with Retry-After.
"""

import contextlib
import functools
import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.throttling import BaseThrottle

__all__ = [
    "LoginSerializer",
    "RateLimitHeadersMiddleware",
    "TokenRateThrottle",
    "check_settings",
    "parse_rate",
    "token_usage",
]

logger = logging.getLogger(__name__)

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
RATE_RE = re.compile(r"([0-9]+)/(second|minute|hour|day)")
# A window's counter outlives the window by this much: servers sharing a cache have slightly different clocks.
KEY_GRACE = 5
# A cache server that fails leaves requests unlimited (logged) rather than refused.
CACHE_ERRORS = (OSError, RedisError)

clock = time.time  # tests replace it to stay inside one window


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


def parse_rate(value: str, name: str = "rate") -> Rate | None:
    """`<count>/<second|minute|hour|day>` (count at least 1), or `off` (None: no limit)."""
    text = value.strip().lower()
    if text == "off":
        return None
    match = RATE_RE.fullmatch(text)
    if not match or int(match[1]) < 1:
        raise ImproperlyConfigured(
            f"{name} must be '<count>/<second|minute|hour|day>' (a count of at least 1) or 'off', not {value!r}"
        )
    return Rate(int(match[1]), PERIODS[match[2]])


def check_settings() -> None:
    for name in ("OMNITRON_RATE_LIMIT", "OMNITRON_LOGIN_RATE_LIMIT"):
        parse_rate(getattr(settings, name), name)


@functools.lru_cache(maxsize=16)
def _rate(value: str) -> Rate | None:
    return parse_rate(value)


@dataclass(frozen=True)
class Usage:
    rate: Rate
    count: int  # hits in the current window, this one included
    reset: int  # seconds until the window ends

    @property
    def exceeded(self) -> bool:
        return self.count > self.rate.limit

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.rate.limit),
            "RateLimit-Remaining": str(max(0, self.rate.limit - self.count)),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.rate.limit};w={self.rate.period}",
        }


@dataclass(frozen=True)
class Window:
    key: str
    reset: int

    @classmethod
    def current(cls, scope: str, ident: str, rate: Rate) -> "Window":
        now = clock()
        number = int(now // rate.period)
        # Hashed: usernames and forwarded addresses may hold characters a cache key must not.
        digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
        return cls(
            f"ratelimit:{scope}:{digest}:{rate.period}:{number}", max(1, math.ceil((number + 1) * rate.period - now))
        )

    def add(self, delta: int = 1) -> int:
        """Counts `delta` hits, atomically; the count after them."""
        try:
            return cache.incr(self.key, delta)
        except ValueError:  # the window's first hit
            pass
        if cache.add(self.key, delta, self.reset + KEY_GRACE):
            return delta
        return cache.incr(self.key, delta)  # another request made the first hit in between

    def release(self) -> int:
        """Takes one hit back."""
        return cache.decr(self.key)


def _remember(request, usage: Usage) -> None:
    """Hands the usage to RateLimitHeadersMiddleware, which sees Django's request, not DRF's."""
    getattr(request, "_request", request).omnitron_ratelimit = usage


def client_address(request) -> str:
    """REMOTE_ADDR, or with NUM_PROXIES (OMNITRON_NUM_PROXIES) trusted proxies in front, the address the
    outermost of them saw, from X-Forwarded-For (DRF's rule)."""
    return BaseThrottle().get_ident(request) or ""


def token_usage(token: str) -> Usage | None:
    """Counts one request of the token whose primary key is `token` under OMNITRON_RATE_LIMIT: the window's usage,
    or None when there is no limit (or the cache failed: the request goes unlimited, logged)."""
    rate = _rate(settings.OMNITRON_RATE_LIMIT)
    if rate is None:
        return None
    window = Window.current("token", token, rate)
    try:
        return Usage(rate, window.add(), window.reset)
    except CACHE_ERRORS as exc:
        logger.warning("rate limit not applied, the cache failed: %s", exc)
        return None


class TokenRateThrottle(BaseThrottle):
    """OMNITRON_RATE_LIMIT requests per token. Requests without a valid token are refused (401) before this runs."""

    usage: Usage | None = None

    def allow_request(self, request, view) -> bool:
        if request.auth is None:
            return True
        self.usage = token_usage(str(request.auth.pk))
        if self.usage is None:
            return True
        _remember(request, self.usage)
        return not self.usage.exceeded

    def wait(self) -> int:
        return self.usage.reset


@contextlib.contextmanager
def login_attempt(request, username: str):
    """Checks credentials under OMNITRON_LOGIN_RATE_LIMIT: failed logins per username and per client address.

    The attempt is counted on both counters before the password is checked (so concurrent guesses cannot all pass
    the check) and uncounted unless the credentials were wrong: only failures use the budget. Once either counter is
    full, every attempt for that username or from that address answers 429 until the window ends, the right password
    too: otherwise a guesser would simply keep guessing and recognise the right password by its 200.
    """
    rate = _rate(settings.OMNITRON_LOGIN_RATE_LIMIT)
    if rate is None:
        yield
        return
    windows = [
        Window.current("login-username", username, rate),
        Window.current("login-address", client_address(request), rate),
    ]
    try:
        counts = [window.add() for window in windows]
    except CACHE_ERRORS as exc:
        logger.warning("login rate limit not applied, the cache failed: %s", exc)
        counts = None
    if counts is None:
        yield
        return
    reset = windows[0].reset
    failed = False
    try:
        if max(counts) > rate.limit:
            raise Throttled(reset, "Too many failed logins.")
        try:
            yield
        except ValidationError:
            failed = True
            raise
    finally:
        if not failed:
            with contextlib.suppress(ValueError, *CACHE_ERRORS):
                counts = [window.release() for window in windows]
        _remember(request, Usage(rate, max(counts), reset))


class LoginSerializer(AuthTokenSerializer):
    """DRF's username/password check, limited by `login_attempt` (missing fields are not an attempt)."""

    def validate(self, attrs):
        with login_attempt(self.context["request"], attrs["username"]):
            return super().validate(attrs)


class RateLimitHeadersMiddleware:
    """Adds the RateLimit-* fields to every response of a limited request: successes, errors and 429s alike."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        usage = getattr(request, "omnitron_ratelimit", None)
        if usage is not None:
            for name, value in usage.headers().items():
                response[name] = value
        return response
