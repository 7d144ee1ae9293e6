"""Errors are decided here: DRF's shapes, plus a top-level machine-readable `code`."""

import logging
import sys

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError
from django.http import Http404, JsonResponse
from psycopg_pool import PoolTimeout
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

__all__ = [
    "Conflict",
    "RequestTooLarge",
    "ServiceUnavailable",
    "bad_request",
    "exception_handler",
    "first_code",
    "not_found",
    "permission_denied",
    "server_error",
]

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "request_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; try again later."
    default_code = "service_unavailable"
    wait = 5  # seconds; DRF's handler sends it as Retry-After


# The database cannot be reached, or could not answer in time: the same request can succeed later. Django wraps
# psycopg_pool's PoolTimeout (no connection within the pool's timeout) in OperationalError; it is named for clarity.
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


def first_code(codes) -> str | None:
    """The code of the first error in DRF's nested `get_codes()` structure."""
    while isinstance(codes, dict | list):
        if not codes:
            return None
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes


def _as_api_exception(exc):
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args)
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args)
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, ProtectedError):
        # Deletes never cascade through protected relations (orders keep their customer and channel).
        names = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        return exceptions.ValidationError(
            {
                "non_field_errors": [
                    exceptions.ErrorDetail(f"Cannot delete: it still has {', '.join(names)}.", "protected")
                ]
            }
        )
    if isinstance(exc, UNAVAILABLE):
        logger.warning("database unavailable, answered 503: %s", exc)
        return ServiceUnavailable()
    if isinstance(exc, IntegrityError):
        logger.warning("integrity error answered as 409: %s", exc)
        return Conflict()
    return exc


def exception_handler(exc, context):
    exc = _as_api_exception(exc)
    if isinstance(exc, exceptions.ValidationError) and not isinstance(exc.detail, dict):
        # A bare list would leave no room for `code`; DRF names such errors non_field_errors.
        exc = exceptions.ValidationError({"non_field_errors": exc.detail})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException) and isinstance(response.data, dict):
        response.data.setdefault("code", first_code(exc.get_codes()))
    return response


# Django-level handlers (urls.handler404/handler500, CSRF): the same JSON shape outside DRF views.
def _error(detail: str, code: str, status_code: int) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


def bad_request(request, exception=None):
    return _error("Bad request.", "bad_request", 400)


def permission_denied(request, exception=None, reason=""):
    return _error("You do not have permission to perform this action.", "permission_denied", 403)


def not_found(request, exception=None):
    return _error("Not found.", "not_found", 404)


def server_error(request):
    # Django calls handler500 while handling the exception: a database outage met outside a DRF view (in a
    # middleware, a Django view) still answers 503, not 500.
    if isinstance(sys.exc_info()[1], UNAVAILABLE):
        response = _error(ServiceUnavailable.default_detail, ServiceUnavailable.default_code, 503)
        response["Retry-After"] = str(ServiceUnavailable.wait)
        return response
    return _error("A server error occurred.", "error", 500)
