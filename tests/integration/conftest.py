"""A live Omnitron server per test module, built like the contract test's (tests/contract/conftest.py).

A module sets `SERVER_ENV` (e.g. {"OMNITRON_LIST_FORMAT": "paginated"}) to start its server with extra environment.
Besides the contract seed, the server has an integration user that logs in with a password, as the SDK does.
"""

import json
from dataclasses import dataclass

import pytest

from tests.contract.conftest import OmnitronServer, _run, start_server, throwaway_database

USERNAME = "integration"
PASSWORD = "integration-pass-4711"

# Run with `omnitron shell -c` after the seed: a user that logs in with a password (POST /auth/login/).
PASSWORD_USER = f"""
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
user = get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})
user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["channels", "customers", "orders"]))
print(json.dumps({{"pk": user.pk}}))
"""


@dataclass
class Credentials:
    username: str
    password: str
    pk: int


@pytest.fixture(scope="module")
def integration_server(request, tmp_path_factory) -> OmnitronServer:
    extra_env = getattr(request.module, "SERVER_ENV", {})
    with (
        throwaway_database(tmp_path_factory) as database_url,
        start_server(database_url, tmp_path_factory.mktemp("integration-server"), extra_env) as server,
    ):
        yield server


@pytest.fixture
def server_log(integration_server):
    """The server's log written during the test: no tracebacks (a database error answered 500 leaves one)."""
    start = integration_server.log.stat().st_size
    yield integration_server
    with integration_server.log.open("rb") as log:
        log.seek(start)
        written = log.read().decode(errors="replace")
    assert "Traceback" not in written, written


@pytest.fixture(scope="module")
def credentials(integration_server) -> Credentials:
    out = _run(["shell", "-c", PASSWORD_USER], integration_server.env, integration_server.log.parent)
    return Credentials(USERNAME, PASSWORD, json.loads(out.strip().splitlines()[-1])["pk"])
