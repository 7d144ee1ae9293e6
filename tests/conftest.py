import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create a user each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("integrator", password="s3cret-pass")


@pytest.fixture
def token(user) -> str:
    _, key = AuthToken.objects.create(user=user)
    return key


@pytest.fixture
def api(token) -> APIClient:
    """A client that authenticates the way integrations do: `Authorization: Token <key>`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def anon(db) -> APIClient:
    return APIClient()
