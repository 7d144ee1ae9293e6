"""Omnitron settings: everything that differs between installations comes from the environment."""

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_count(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit():
        raise ImproperlyConfigured(f"{name} must be a whole number (0 or more), not {value!r}")
    return int(value)


def env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name) or str(default)
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ImproperlyConfigured(f"{name} must be a positive number of seconds, not {value!r}")
    return seconds


# Local state (the SQLite database, the generated secret key) lives under one directory.
VAR_DIR = Path(os.environ.get("OMNITRON_VAR_DIR", "var")).resolve()


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept under VAR_DIR."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        # Written whole under another name (mode 0600), then linked into place, which fails if the name exists: when
        # several processes start at once exactly one key is kept, and none reads a key file still being written.
        with tempfile.NamedTemporaryFile("w", dir=VAR_DIR, prefix=".secret_key.", delete=False) as f:
            f.write(secrets.token_urlsafe(50))
        try:
            os.link(f.name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(f.name)
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it or set SECRET_KEY")
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served from here (collectstatic): no CDN needed
    "simple_history",  # change history of the resources (apicore.history)
    "omnitron.apps.OmnitronConfig",
    "apicore",
    "channels",
    "customers",
    "orders",
    "events",
    "webhooks",
    "privacy",
    "imports",
]

MIDDLEWARE = [
    # First: every response carries the request's id, a redirect or an error page too.
    "apicore.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's CSS and JavaScript from the production server itself, no separate web server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apicore.middleware.CommonMiddleware",
    "apicore.throttling.RateLimitHeadersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The request (its user, its id) for the history of what it changes; a token's user is set by DRF later on.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The admin's notices ("The customer was changed") are kept in its session. Django's default tries a signed cookie
# first, and sets that storage up on every request, the API's too, which never shows a notice.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "omnitron.urls"
WSGI_APPLICATION = "omnitron.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'omnitron.sqlite3'}"
    try:
        db = dj_database_url.parse(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
    if db["ENGINE"] == "django.db.backends.sqlite3":
        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        db["OPTIONS"] = {
            # Several server workers share one file: WAL lets readers run beside the writer,
            # IMMEDIATE takes the write lock up front so writers queue instead of failing.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        db["TEST"] = {"NAME": os.environ.get("OMNITRON_TEST_SQLITE_NAME") or None}
    elif db["ENGINE"] == "django.db.backends.postgresql":
        # One psycopg pool per worker process; Django requires CONN_MAX_AGE=0 with a pool.
        db["CONN_MAX_AGE"] = 0
        # No check before a pooled connection is handed out: it is a round trip, as much work for the database as a
        # record's read. A connection the database dropped (a restart) fails the one request that draws it (503);
        # psycopg marks it broken and the pool discards it when it comes back.
        db["CONN_HEALTH_CHECKS"] = False
        wait = float(os.environ.get("OMNITRON_DB_POOL_TIMEOUT", "5"))
        options = db.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", 5)  # libpq: an unanswered connect fails instead of hanging
        # Django disables psycopg's prepared statements unless this is set; the read path prepares its statements
        # (apicore.readpath). Django's own queries bind on the client and are not prepared either way. Behind
        # PgBouncer in transaction mode this needs PgBouncer 1.21+ with max_prepared_statements (README).
        options.setdefault("prepare_threshold", 5)
        # The read path's statements are written so that one plan serves every value (a prefix's bounds, the probe
        # of a filter's matches); left to choose, PostgreSQL re-plans a statement per request whenever its generic
        # plan looks costlier than the custom ones: measured, 1.3 ms of planning per email-prefix page. Django's own
        # queries are not prepared, so this changes nothing for them. (Behind PgBouncer in transaction mode, set it
        # on the database instead: README.)
        # No JIT compilation: a generic plan's cost estimates (an unknown LIMIT, say) can pass jit_above_cost, and the
        # compiled code is not kept between executions: measured, 425 ms of compiling per detailed page of 10, for
        # 1 ms of work. The service's queries are short; JIT pays off for long analytical ones.
        extra = "-c plan_cache_mode=force_generic_plan -c jit=off"
        options["options"] = f"{options.get('options', '')} {extra}".strip()
        options["pool"] = {
            "min_size": int(os.environ.get("OMNITRON_DB_POOL_MIN", "1")),
            "max_size": int(os.environ.get("OMNITRON_DB_POOL_MAX", "8")),
            # A request waits this long for a connection, then answers 503 (psycopg_pool.PoolTimeout).
            "timeout": wait,
            # The pool retries a lost connection in the background with a doubling delay for this long, then gives
            # up and connects again on the next request: recovery after an outage is not delayed by a long backoff.
            "reconnect_timeout": wait,
        }
    else:
        raise ImproperlyConfigured("DATABASE_URL must point at SQLite or PostgreSQL")
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's model permissions, read in one query per request (see apicore.permissions).
AUTHENTICATION_BACKENDS = ["apicore.permissions.ModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by `omnitron collectstatic` (make serve runs it)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Redirects that add a trailing slash answer 308 (see apicore.middleware), so write bodies survive.
APPEND_SLASH = True

# Largest request body accepted, in bytes; larger ones answer 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("OMNITRON_MAX_BODY_SIZE", str(1024 * 1024)))

# "array": a JSON array with X-Total-Count and Link headers (the published pages);
# "paginated": {"count", "next", "previous", "results"} (what the production service answers).
OMNITRON_LIST_FORMAT = os.environ.get("OMNITRON_LIST_FORMAT", "array")
if OMNITRON_LIST_FORMAT not in {"array", "paginated"}:
    raise ImproperlyConfigured("OMNITRON_LIST_FORMAT must be 'array' or 'paginated'")
# Lists count matching rows exactly up to this many; above it (PostgreSQL) the total is the planner's estimate,
# flagged by `X-Total-Count-Estimated: true`. 0 counts exactly always.
OMNITRON_EXACT_COUNT_LIMIT = env_count("OMNITRON_EXACT_COUNT_LIMIT", 10_000)
# Days the event feed keeps an event (`omnitron purge_events` deletes older ones).
# simple-history keeps the history tables, the admin's History pages and the history querysets; apicore.history
# writes the entries itself, with each change's event in the same statement (docs/decisions.md).
SIMPLE_HISTORY_ENABLED = False
OMNITRON_EVENT_RETENTION_DAYS = env_count("OMNITRON_EVENT_RETENTION_DAYS", 30)
# Webhooks (webhooks.worker): only https:// URLs, or http:// to these hosts (comma-separated; e.g. 127.0.0.1 for a
# receiver on this machine). Link-local, metadata and unspecified addresses are refused whatever this says.
OMNITRON_WEBHOOK_HTTP_HOSTS = [host.lower() for host in env_list("OMNITRON_WEBHOOK_HTTP_HOSTS", "")]
# A delivery succeeds when its receiver answers 2xx within this many seconds.
OMNITRON_WEBHOOK_TIMEOUT = env_seconds("OMNITRON_WEBHOOK_TIMEOUT", 10)
# A failed delivery is tried again after this many seconds, then twice as long each time (at most an hour between two
# tries, with jitter), until OMNITRON_WEBHOOK_RETRY_HOURS after its first try; then it is marked failed.
OMNITRON_WEBHOOK_RETRY_SECONDS = env_seconds("OMNITRON_WEBHOOK_RETRY_SECONDS", 30)
OMNITRON_WEBHOOK_RETRY_HOURS = env_seconds("OMNITRON_WEBHOOK_RETRY_HOURS", 24)
# A webhook whose every attempt failed for this long is disabled.
OMNITRON_WEBHOOK_DISABLE_HOURS = env_seconds("OMNITRON_WEBHOOK_DISABLE_HOURS", 24)
# A worker's claim on a delivery: no other worker sends it before this many seconds, and a killed worker's claims
# are taken over after them. Must exceed OMNITRON_WEBHOOK_TIMEOUT.
OMNITRON_WEBHOOK_LEASE_SECONDS = env_seconds("OMNITRON_WEBHOOK_LEASE_SECONDS", 60)
if OMNITRON_WEBHOOK_LEASE_SECONDS <= OMNITRON_WEBHOOK_TIMEOUT:
    raise ImproperlyConfigured("OMNITRON_WEBHOOK_LEASE_SECONDS must exceed OMNITRON_WEBHOOK_TIMEOUT")
# Deliveries in flight to one webhook from one worker.
OMNITRON_WEBHOOK_CONCURRENCY = env_count("OMNITRON_WEBHOOK_CONCURRENCY", 128) or 1
# Imports (README: Import): the largest file taken, and how long a worker's claim on an import lasts without a batch
# written; then another worker resumes it.
OMNITRON_IMPORT_MAX_BYTES = env_count("OMNITRON_IMPORT_MAX_BYTES", 1024**3)
OMNITRON_IMPORT_LEASE_SECONDS = env_seconds("OMNITRON_IMPORT_LEASE_SECONDS", 120)
# Ended imports (and their reports) are kept this long; `omnitron purge_imports` deletes older ones.
OMNITRON_IMPORT_RETENTION_DAYS = env_count("OMNITRON_IMPORT_RETENTION_DAYS", 30)
# Processes validating and writing an import's batches at once, on PostgreSQL (SQLite writes one at a time).
OMNITRON_IMPORT_PROCESSES = env_count("OMNITRON_IMPORT_PROCESSES", os.cpu_count() or 1) or 1
# Seconds between a worker's looks for work when nothing wakes it (PostgreSQL wakes it at each commit of events).
OMNITRON_WORKER_POLL_SECONDS = env_seconds("OMNITRON_WORKER_POLL_SECONDS", 1)
# The read path (apicore.readpath) answers hot GETs on PostgreSQL in one statement each; off, Django answers them all.
_read_path = os.environ.get("OMNITRON_READ_PATH", "on").lower()
if _read_path not in {"on", "off"}:
    raise ImproperlyConfigured(f"OMNITRON_READ_PATH must be 'on' or 'off', not {_read_path!r}")
OMNITRON_READ_PATH = _read_path == "on"


def _cache() -> dict:
    """CACHE_URL (Redis) shares the rate-limit counters between worker processes; else each process counts alone."""
    url = os.environ.get("CACHE_URL", "")
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 100_000}}
    if url.split("://", 1)[0] not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"CACHE_URL must be a redis://, rediss:// or unix:// URL, not {url!r}")
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "omnitron",
        # An unreachable cache server costs a request at most this long; the request is then served unlimited.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


CACHES = {"default": _cache()}

# "<count>/<second|minute|hour|day>" or "off": requests per token, failed logins per username and per client address.
# apicore.throttling checks both when the apps load, so a typo stops the server at startup.
OMNITRON_RATE_LIMIT = os.environ.get("OMNITRON_RATE_LIMIT", "6000/minute")
OMNITRON_LOGIN_RATE_LIMIT = os.environ.get("OMNITRON_LOGIN_RATE_LIMIT", "30/minute")


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apicore.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apicore.permissions.ModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": ["apicore.renderers.JSONRenderer"],  # DRF's JSON, byte for byte, by orjson
    "DEFAULT_PARSER_CLASSES": ["apicore.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["apicore.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "apicore.pagination.Pagination",
    "EXCEPTION_HANDLER": "apicore.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apicore.schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["apicore.throttling.TokenRateThrottle"],
    # Client address for the login limit: REMOTE_ADDR, or behind N trusted proxies, X-Forwarded-For's N-th from last.
    "NUM_PROXIES": env_count("OMNITRON_NUM_PROXIES", 0),
    "PAGE_SIZE": 10,
}

# Tokens never expire unless revoked; only their digests are stored.
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token"}

# The OpenAPI document at /api/schema/ and its Swagger UI at /api/docs/, generated from the code (apicore.schema).
SPECTACULAR_SETTINGS = {
    "TITLE": "Omnitron API",
    "DESCRIPTION": "Back-office REST API: customers, channels, orders and refunds.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Public, like the published contract: the document holds no data, and the page must load before a token is set.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
