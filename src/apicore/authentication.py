import re

from django.utils import timezone
from knox import auth
from rest_framework import exceptions

__all__ = ["TokenAuthentication"]

# Tokens this service issues are hexadecimal; anything else cannot match and must not reach the database
# (a NUL byte, for one, is an error on PostgreSQL).
TOKEN_RE = re.compile(rb"[0-9A-Za-z_-]{1,256}")


class TokenAuthentication(auth.TokenAuthentication):
    """`Authorization: Token <key>`; only the token's digest is stored (django-rest-knox)."""

    def authenticate_credentials(self, token: bytes):
        if not TOKEN_RE.fullmatch(token):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        # knox also sweeps all of the user's other tokens for expired ones on every request: one more query,
        # reading a row per login the user ever made. Only the presented token's expiry decides here.
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
