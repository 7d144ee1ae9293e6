"""channel-app's customer step, unchanged, against the real server over HTTPS.

`channel-app` (the framework sales-channel integrations are built on) pins its own dependencies (redis 5.0.1, celery,
...) apart from this project's, so it runs in a virtual environment of its own, made once under var/test-venvs/,
as a subprocess per step, the way each of an integration's tasks runs. It is configured only as its settings read it,
from the environment: OMNITRON_URL (it refuses anything but https://), OMNITRON_USERNAME / OMNITRON_PASSWORD (it logs
in itself with POST auth/login/ and keeps the token in its cache), OMNITRON_CHANNEL_ID, OMNITRON_MODULE and
CHANNEL_MODULE, CACHE_HOST / CACHE_PORT / CACHE_DATABASE_INDEX (the machine's Redis), and REQUESTS_CA_BUNDLE for the
throwaway CA that signed the server's certificate. Nothing of the package is patched.

Each step builds `OmnitronIntegration(create_batch=False)` (it reads the channel first and stops if inactive) and runs
its `get_or_create_customer` action (`GetOrCreateCustomer`) with a `CustomerDto`.
"""

import json
import re
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import redis

from tests.contract.conftest import TLSFiles
from tests.integration.conftest import request

ROOT = Path(__file__).resolve().parents[2]
# channel-app declares `omnisdk` unpinned: the same release this project's omnisdk test uses, the newest on PyPI.
OMNISDK = f"omnisdk=={version('omnisdk')}"
# 0.0.161 is the release integrations move to; its Omnitron integration module imports
# `omnisdk.omnitron.endpoints.ChannelOperationalEventEndpoint`, which no omnisdk release on PyPI has (up to 0.0.103),
# so it cannot start: the test runs on it and is expected to fail until such an omnisdk is published. 0.0.158 is the
# newest release that starts; its customer step (GetOrCreateCustomer), client and integration base are the same
# code as 0.0.161's (0.0.161 adds operational-event reports on failures and reads OMNITRON_URL; 0.0.158 builds
# https://{MAIN_APP_URL}/).
RELEASES = [
    "0.0.158",
    pytest.param(
        "0.0.161",
        marks=pytest.mark.xfail(
            raises=ImportError,
            strict=True,
            reason="no omnisdk on PyPI has ChannelOperationalEventEndpoint",
        ),
    ),
]
# channel-app's cache keys have fixed names (its token, its login count): a database of the machine's Redis that
# nothing else here uses, emptied of them before and after.
CACHE_DB = 11
CACHE_KEYS = ("omnitron_auth_token_prefix", "retry_count")
STEP_TIMEOUT = 120  # seconds for one step (a subprocess)

# One step, run in channel-app's environment: prints what the action returned (None when it failed: channel-app
# catches every error, logs it and returns nothing).
STEP = """
import json, logging, sys
from channel_app.core.data import CustomerDto
from channel_app.omnitron.integration import OmnitronIntegration

logging.basicConfig(stream=sys.stderr, level=logging.INFO)
with OmnitronIntegration(create_batch=False) as integration:
    assert integration is not None, "channel-app found the channel inactive"
    customers = integration.do_action(key="get_or_create_customer", objects=CustomerDto(**json.loads(sys.argv[1])))
print(json.dumps(None if customers is None else [vars(customer) for customer in customers]))
"""


def channel_app_python(release: str) -> Path:
    """The interpreter of a virtual environment holding channel-app `release`; made on first use, then reused."""
    home = ROOT / "var" / "test-venvs" / f"channel-app-{release}"
    python, marker = home / "bin" / "python", home / "installed.txt"
    requirements = [f"channel-app=={release}", OMNISDK]
    if not (python.exists() and marker.exists() and marker.read_text() == "\n".join(requirements)):
        subprocess.run(["rm", "-rf", str(home)], check=True)
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=300)
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert installed.returncode == 0, f"pip install {' '.join(requirements)} failed:\n{installed.stderr}"
        marker.write_text("\n".join(requirements))
    return python


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory) -> TLSFiles:
    return TLSFiles.make(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def channel_app_cache():
    """channel-app's cache on the machine's Redis, without a token or login count left by an earlier run."""
    cache = redis.Redis(host="127.0.0.1", port=6379, db=CACHE_DB, socket_timeout=5)
    cache.delete(*CACHE_KEYS)
    yield cache
    cache.delete(*CACHE_KEYS)
    cache.close()


def new_channel(server, conf: dict) -> int:
    status, body, _ = request(
        server, "POST", "/api/v1/channels/",
        {"name": "channel-app shop", "catalog": 1, "channel_type": "sales_channel", "conf": conf, "is_active": True},
    )  # fmt: skip
    assert status == 201, body
    return body["pk"]


class ChannelApp:
    """Runs channel-app's steps against `server` for one channel, and reads what the server logged meanwhile."""

    def __init__(self, python: Path, server, tls: TLSFiles, credentials, channel_id: int, workdir: Path):
        self.python, self.server, self.channel_id, self.workdir = python, server, channel_id, workdir
        self.env = {
            "PATH": "/usr/bin:/bin",
            "OMNITRON_URL": f"{server.url}/",  # 0.0.159 and later
            "MAIN_APP_URL": server.url.removeprefix("https://"),  # before: https://{MAIN_APP_URL}/
            "OMNITRON_USERNAME": credentials.username,
            "OMNITRON_PASSWORD": credentials.password,
            "OMNITRON_CHANNEL_ID": str(channel_id),
            "OMNITRON_MODULE": "channel_app.omnitron.integration",
            "CHANNEL_MODULE": "channel_app.channel.integration",
            "CACHE_HOST": "127.0.0.1",
            "CACHE_PORT": "6379",
            "CACHE_DATABASE_INDEX": str(CACHE_DB),
            "REQUESTS_CA_BUNDLE": str(tls.cafile),
        }

    def get_or_create_customer(self, **dto) -> tuple[list | None, list[str], str]:
        """What the action returned, the requests ("METHOD path status") the server logged for it, and what
        channel-app logged."""
        start = self.server.log.stat().st_size
        step = subprocess.run(
            [str(self.python), "-c", STEP, json.dumps(dto)],
            env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=STEP_TIMEOUT,
        )  # fmt: skip
        if step.returncode != 0 and "ImportError" in step.stderr:
            raise ImportError(step.stderr.strip().splitlines()[-1])
        assert step.returncode == 0, step.stderr
        return json.loads(step.stdout.strip().splitlines()[-1]), self.requests_since(start), step.stderr

    def requests_since(self, offset: int) -> list[str]:
        # The server logs a request just after answering it: wait until the log stops growing.
        seen, size, deadline = -1, 0, time.monotonic() + 5
        while time.monotonic() < deadline:
            size = self.server.log.stat().st_size
            if size == seen:
                break
            seen = size
            time.sleep(0.3)
        with self.server.log.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode(errors="replace").splitlines()
        # The access log (gunicorn's format, under granian too) ends with the User-Agent: channel-app's requests say
        # python-requests, the test's own (http.client) send none.
        found = (re.search(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) .*"python-requests/', line) for line in lines)
        return [f"{m[1]} {m[2]} {m[3]}" for m in found if m]


@pytest.fixture(params=RELEASES)
def channel_app(request, channel_app_cache, integration_server, server_tls, credentials, tmp_path):
    """channel-app of each release, for a new channel with the given `conf`."""
    python = channel_app_python(request.param)

    def for_channel(conf: dict) -> ChannelApp:
        channel_id = new_channel(integration_server, conf)
        return ChannelApp(python, integration_server, server_tls, credentials, channel_id, tmp_path)

    return for_channel


def customers_of(server, channel_id: int, **filters) -> list[dict]:
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    status, body, _ = request(server, "GET", f"/api/v1/channel/{channel_id}/customers/?{query}")
    assert status == 200, body
    return body


def test_customer_found_by_email_is_created_once_and_updated_with_a_partial_body(channel_app, integration_server):
    app = channel_app({})  # no CUSTOMER_IDENTIFIER_FIELD: channel-app looks customers up by email
    base = f"/api/v1/channel/{app.channel_id}/customers/"
    dto = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "channel_code": "ca-ada",
           "phone_number": "05550001122", "extra_field": {"source": "marketplace"}}  # fmt: skip

    # 1. Not there yet: created with channel-app's own body (no consent flags), in the integration's channel.
    created, requests, log = app.get_or_create_customer(**dto)
    assert created is not None, log
    (customer,) = created
    assert requests[0] == "POST /api/v1/auth/login/ 200"  # it logged in with its username and password
    assert requests[1:] == [
        f"GET /api/v1/channels/{app.channel_id}/ 200",
        f"GET {base}?email=ada%40example.com&channel={app.channel_id}&page=1 200",
        f"POST {base} 201",
    ]
    (stored,) = customers_of(integration_server, app.channel_id, email="ada@example.com")
    assert stored["pk"] == customer["pk"]
    assert {key: stored[key] for key in ("channel", "email", "first_name", "last_name", "channel_code",
                                         "phone_number", "extra_field", "is_active")} == {
        **dto, "channel": app.channel_id, "is_active": True,
    }  # fmt: skip
    assert (stored["email_allowed"], stored["sms_allowed"], stored["call_allowed"]) == (False, False, False)

    # A back-office user records a consent meanwhile: what channel-app does not send must survive its update.
    status, _, _ = request(
        integration_server, "PATCH", f"/api/v1/customers/{customer['pk']}/", {"email_allowed": True, "erp_code": "E9"}
    )
    assert status == 200
    (before,) = customers_of(integration_server, app.channel_id, email="ada@example.com")

    # 2. The same customer again: found by its email, nothing created or written.
    found, requests, log = app.get_or_create_customer(**dto)
    assert [c["pk"] for c in found] == [customer["pk"]]
    assert requests == [  # the cached token: no second login
        f"GET /api/v1/channels/{app.channel_id}/ 200",
        f"GET {base}?email=ada%40example.com&channel={app.channel_id}&page=1 200",
    ]
    assert customers_of(integration_server, app.channel_id, email="ada@example.com") == [before]

    # 3. A changed name: the found customer is updated with a partial body (PATCH) of what changed.
    updated, requests, log = app.get_or_create_customer(**{**dto, "first_name": "Augusta Ada"})
    assert [c["pk"] for c in updated] == [customer["pk"]]
    assert updated[0]["first_name"] == "Augusta Ada"
    assert requests[-1] == f"PATCH {base}{customer['pk']}/ 200"
    assert len(requests) == 3
    (after,) = customers_of(integration_server, app.channel_id, email="ada@example.com")
    assert after["first_name"] == "Augusta Ada"
    assert after["modified_date"] > before["modified_date"]
    unchanged = {key: value for key, value in after.items() if key not in {"first_name", "modified_date"}}
    assert unchanged == {key: value for key, value in before.items() if key not in {"first_name", "modified_date"}}
    assert (after["email_allowed"], after["erp_code"]) == (True, "E9")


def test_phone_number_mode_creates_once_and_the_repeat_is_refused_as_a_duplicate(channel_app, integration_server):
    """With CUSTOMER_IDENTIFIER_FIELD "phone_number", channel-app compares the conf's string with its own enum member
    (`CustomerIdentifierField.phone_number`), which never matches: it never looks the customer up and creates it on
    every call, against any server. What the service must then do is what the production service's "unique
    channel_code" promises: refuse the repeat (400 `unique` on `channel_code`) and keep one customer."""
    app = channel_app({"CUSTOMER_IDENTIFIER_FIELD": "phone_number"})
    base = f"/api/v1/channel/{app.channel_id}/customers/"
    dto = {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", "channel_code": "ca-grace",
           "phone_number": "05550003344"}  # fmt: skip

    created, requests, log = app.get_or_create_customer(**dto)
    assert created is not None, log
    assert requests[-2:] == [f"GET /api/v1/channels/{app.channel_id}/ 200", f"POST {base} 201"]
    (stored,) = customers_of(integration_server, app.channel_id, phone_number="05550003344")
    assert stored["pk"] == created[0]["pk"]
    assert (stored["email"], stored["channel_code"], stored["email_allowed"]) == (
        "grace@example.com",
        "ca-grace",
        False,
    )

    again, requests, log = app.get_or_create_customer(**{**dto, "first_name": "Grace Brewster"})
    assert again is None  # channel-app logs the refusal and returns nothing
    assert requests == [f"GET /api/v1/channels/{app.channel_id}/ 200", f"POST {base} 400"]
    assert "A customer with this channel_code already exists" in log
    assert customers_of(integration_server, app.channel_id, phone_number="05550003344") == [stored]
