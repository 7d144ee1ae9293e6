import os
import re
import subprocess
import sys
from io import StringIO
from subprocess import PIPE

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from omnitron import settings as omnitron_settings


def ensure_admin() -> str:
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_ensure_admin_creates_a_superuser_once_and_prints_password_and_token():
    first = ensure_admin()
    password = re.search(r"password:\s+(\S+)", first).group(1)
    key = re.search(r"API token:\s+(\S+)", first).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/customers/").status_code == 200
    login = APIClient().post("/api/v1/auth/login/", {"username": "admin", "password": password}, format="json")
    assert login.status_code == 200

    second = ensure_admin()
    assert password not in second and "API token" not in second
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(omnitron_settings, "VAR_DIR", tmp_path)
    first = omnitron_settings._secret_key()
    assert len(first) >= 50
    assert omnitron_settings._secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


# A server process starting: told to go, it loads the settings, which read the key file or make it. Its slow key
# generator widens the moment between one process creating the file and the others reading it.
STARTER = """
import secrets, sys, time
import dj_database_url, django.core.exceptions  # the settings' imports, done before the start

token = secrets.token_urlsafe
secrets.token_urlsafe = lambda size: time.sleep(0.2) or token(size)
print("ready", flush=True)
sys.stdin.readline()
from omnitron import settings
print(settings.SECRET_KEY)
"""


def test_processes_starting_at_once_all_read_one_whole_key(tmp_path):
    env = dict(os.environ, OMNITRON_VAR_DIR=str(tmp_path))
    env.pop("SECRET_KEY", None)
    starters = [
        subprocess.Popen([sys.executable, "-c", STARTER], env=env, stdin=PIPE, stdout=PIPE, text=True) for _ in range(8)
    ]
    try:
        for starter in starters:
            assert starter.stdout.readline() == "ready\n"
        for starter in starters:  # all at once, once every one is ready
            starter.stdin.write("go\n")
            starter.stdin.flush()
        keys = {starter.communicate(timeout=30)[0].strip() for starter in starters}
    finally:
        for starter in starters:
            starter.kill()
    assert [starter.returncode for starter in starters] == [0] * 8
    assert len(keys) == 1 and len(key := keys.pop()) >= 50
    assert (tmp_path / "secret_key").read_text() == key
    assert not list(tmp_path.glob(".secret_key.*"))  # no key left half-written


def test_secret_key_from_the_environment_wins(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert omnitron_settings._secret_key() == "from-the-environment"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"certfile": "server.pem"}, "--certfile and --keyfile go together"),
        ({"keyfile": "server.key"}, "--certfile and --keyfile go together"),
        ({"certfile": "missing.pem", "keyfile": "server.key"}, "missing.pem: no such file"),
    ],
)
def test_serve_refuses_half_or_missing_tls_files_before_starting(tmp_path, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "server.pem").write_text("certificate")
    (tmp_path / "server.key").write_text("key")
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("serve", **options)
