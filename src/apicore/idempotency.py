"""Idempotent retries of POST: the `Idempotency-Key` request header (IETF httpapi draft, as Stripe implements it).

A POST with a key first claims it for its user: an INSERT of a unique (user, key) row, committed at once so that
concurrent duplicates see it. The request then runs in one transaction that also stores its status and body in the
claim, so its writes and its answer are committed together or not at all.

- A retry with the same key and the same method, path and body replays the stored answer (`Idempotent-Replayed:
  true`); the same key with another request answers 422; a retry while the first still runs answers 409.
- Answers below 500 are stored, 4xx included, except 409 and 429: those report a conflict with concurrent requests,
  which a retry may not meet. A 5xx or an exception releases the claim, so a retry runs the request again.
- Keys are kept 24 hours, measured by the database's clock; an expired key counts as new, and
  `omnitron purge_idempotency_keys` deletes the expired ones.
- A claim still running after ABANDONED_AFTER was left by a server that died mid-request (its transaction rolled
  back) and may be claimed again. Should that first request still finish, it finds its claim gone and rolls back.

Everything lives in the database: several app servers share it.
"""

import functools
import hashlib
import json
import logging
import re
from datetime import timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models.functions import Now
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from apicore.models import IdempotencyKey
from apicore.renderers import JSONRenderer

__all__ = ["ABANDONED_AFTER", "HEADER", "TTL", "IdempotentCreateMixin", "fingerprint", "purge_expired"]

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")  # printable ASCII; the column holds 255
TTL = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=10)  # far beyond the server's 60 s request timeout
NOT_STORED = {status.HTTP_409_CONFLICT, status.HTTP_429_TOO_MANY_REQUESTS}
CLAIM_ATTEMPTS = 3


class KeyInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."
    default_code = "idempotency_key_in_use"
    wait = 1  # seconds; DRF's handler sends it as Retry-After


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used for a different request."
    default_code = "idempotency_key_reused"


class IdempotentCreateMixin:
    """POST (`create`) honours `Idempotency-Key`."""

    def create(self, request, *args, **kwargs):
        return respond(self, request, functools.partial(super().create, request, *args, **kwargs))


def respond(view, request, run) -> Response:
    """The answer to a POST, which `run()` computes at most once per user and Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None or not request.user.is_authenticated:
        return run()
    if not KEY_RE.fullmatch(key):
        raise ValidationError({HEADER: ["Ensure this header has 1 to 255 printable ASCII characters."]}, code="invalid")
    claim = _claim(request.user, key, fingerprint(request.method, request.get_full_path(), request.body))
    if claim.status is not None:
        data = json.loads(claim.body) if claim.body else None
        return Response(data, status=claim.status, headers={REPLAYED_HEADER: "true"})
    try:
        with transaction.atomic():
            response = run()
            if _stored(response) and not _store(claim, response):
                raise KeyInUse()  # taken over as abandoned: undo this run, the other one counts
            return response
    except Exception as exc:
        try:
            response = view.handle_exception(exc)  # re-raises what it does not answer (a 500)
        except BaseException:
            _release(claim)
            raise
    if not (_stored(response) and _store(claim, response)):
        _release(claim)
    return response


def purge_expired() -> int:
    """Delete the keys older than TTL; the number deleted."""
    return IdempotencyKey.objects.filter(created__lt=Now() - TTL).delete()[0]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What a retry must repeat: the method, the path (with its query) and the body, byte for byte."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _claim(user, key: str, digest: str) -> IdempotencyKey:
    """The user's claim of the key: a new one (status None), or the finished one to replay.

    The INSERT decides: of concurrent claims of one key, exactly one succeeds. A loser reads the winner's row.
    """
    for _ in range(CLAIM_ATTEMPTS):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(user=user, key=key, fingerprint=digest)
        except IntegrityError:
            pass
        held = IdempotencyKey.objects.filter(user=user, key=key)
        if held.filter(created__lt=Now() - TTL).delete()[0]:
            continue  # expired: as if never used
        claim = held.first()
        if claim is None:
            continue  # released meanwhile
        if claim.fingerprint != digest:
            raise KeyReused()
        if claim.status is not None:
            return claim
        if held.filter(pk=claim.pk, status__isnull=True, created__lt=Now() - ABANDONED_AFTER).delete()[0]:
            continue
        break
    raise KeyInUse()


def _stored(response) -> bool:
    return response.status_code < 500 and response.status_code not in NOT_STORED


def _store(claim: IdempotencyKey, response) -> bool:
    """Record the answer in the claim, if the claim is still this request's."""
    body = "" if response.data is None else JSONRenderer().render(response.data).decode()
    rows = IdempotencyKey.objects.filter(pk=claim.pk, status__isnull=True).update(
        status=response.status_code, body=body
    )
    return rows == 1


def _release(claim: IdempotencyKey) -> None:
    try:
        IdempotencyKey.objects.filter(pk=claim.pk, status__isnull=True).delete()
    except DatabaseError:
        # The database is failing: the claim is taken over once ABANDONED_AFTER has passed.
        logger.warning("could not release idempotency key %s", claim.pk, exc_info=True)
