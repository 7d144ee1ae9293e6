import binascii
import re
from hmac import compare_digest

from django.utils import timezone
from knox import auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions

__all__ = ["TokenAuthentication"]

# Tokens this service issues are hexadecimal; anything else cannot match and must not reach the database
# (a NUL byte, for one, is an error on PostgreSQL).
TOKEN_RE = re.compile(rb"[0-9A-Za-z_-]{1,256}")


class TokenAuthentication(auth.TokenAuthentication):
    """`Authorization: Token <key>`; only the token's digest is stored (django-rest-knox)."""

    def authenticate_credentials(self, token: bytes):
        # knox's own steps, but for the sweep of the user's other expired tokens (see `expired`).
        if not TOKEN_RE.fullmatch(token):
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = token.decode()
        tokens = get_token_model().objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user")
        for auth_token in tokens:
            if expired(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error) as error:
                raise exceptions.AuthenticationFailed("Invalid token.") from error
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed("Invalid token.")


def expired(auth_token) -> bool:
    """Whether the token has expired; it is deleted then. knox also sweeps all of the user's other tokens for expired
    ones on every request: one more query, reading a row per login the user ever made. Only the presented token's
    expiry decides here (tokens expire only with TOKEN_TTL set); an expired token is deleted when it is presented."""
    if auth_token.expiry is not None and auth_token.expiry < timezone.now():
        auth_token.delete()
        return True
    return False
