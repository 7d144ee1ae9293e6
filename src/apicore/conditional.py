"""Conditional requests (RFC 9110 §13): strong ETags, If-Match and If-None-Match.

Only entity tags are compared. No resource sends Last-Modified, so If-Modified-Since and If-Unmodified-Since are
ignored, as RFC 9110 §13.1.3-4 requires of a resource without a modification date.
"""

import hashlib
import re

from django.http import HttpResponseNotModified
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError

from apicore.renderers import JSONRenderer

__all__ = ["PreconditionFailed", "etag", "evaluate", "is_conditional", "not_modified"]

ANY = "*"
HEADERS = ("If-Match", "If-None-Match")
# One member of a comma-separated list of entity tags (RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE,
# where etagc may be a comma), or an empty member, which §5.6.1 says to ignore.
LIST_MEMBER = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|\Z)')


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource has changed since that ETag was issued; read it again and retry with the new ETag."
    default_code = "precondition_failed"


def etag(data) -> str:
    """The strong entity tag of a representation: a digest of its JSON.

    It changes with every field, computed ones included (an order's refunded_amount, a customer's orders_info).
    """
    return f'"{hashlib.sha256(JSONRenderer().render(data)).hexdigest()[:32]}"'


def _tags(request, header: str) -> list[tuple[bool, str]] | str:
    """`*`, or the (weak, opaque-tag) pairs the header lists; a malformed header answers 400."""
    value = request.headers[header]
    if value.strip(" \t") == ANY:
        return ANY
    tags, pos = [], 0
    while pos < len(value):
        member = LIST_MEMBER.match(value, pos)
        if member is None:
            break
        if member[2] is not None:
            tags.append((bool(member[1]), member[2]))
        pos = member.end()
    if pos < len(value) or not tags:
        # Ignoring it would turn a conditional write into an unconditional one.
        raise ParseError(f'{header} must be "*" or a comma-separated list of quoted entity tags, such as "abc".')
    return tags


def is_conditional(request) -> bool:
    return any(name in request.headers for name in HEADERS)


def evaluate(request, current: str) -> int | None:
    """RFC 9110 §13.2.2, steps 1 and 3, against the resource's current ETag: None when the request may proceed,
    else the status that answers it (412, or 304 to a GET or HEAD)."""
    opaque = current.strip('"')
    # Both headers are read before either decides: a malformed one is a 400 whatever the other would answer.
    if_match, if_none_match = (_tags(request, name) if name in request.headers else None for name in HEADERS)
    if if_match is not None:
        # §13.1.1: strong comparison; a weak tag never matches.
        if if_match != ANY and (False, opaque) not in if_match:
            return status.HTTP_412_PRECONDITION_FAILED
    if if_none_match is not None:
        tags = if_none_match
        # §13.1.2: weak comparison.
        if tags == ANY or any(tag == opaque for _, tag in tags):
            if request.method in ("GET", "HEAD"):
                return status.HTTP_304_NOT_MODIFIED
            return status.HTTP_412_PRECONDITION_FAILED
    return None


def not_modified(tag: str) -> HttpResponseNotModified:
    # §15.4.5: no content and no Content-Type, but the ETag a 200 would have carried.
    response = HttpResponseNotModified()
    response["ETag"] = tag
    return response
