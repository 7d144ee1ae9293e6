import json
import re
import uuid

from django.http import HttpResponsePermanentRedirect
from django.middleware import common
from django.utils.http import escape_leading_slashes

__all__ = ["CommonMiddleware", "RequestIDMiddleware", "request_id"]


class PermanentRedirect(HttpResponsePermanentRedirect):
    # RFC 9110 §15.4.9: unlike 301, a 308 keeps the method and body, so a POST to
    # /api/v1/customers (no slash) reaches /api/v1/customers/ intact.
    status_code = 308

    def __init__(self, redirect_to, *args, **kwargs):
        super().__init__(redirect_to, *args, content_type="application/json", **kwargs)
        self.content = json.dumps({"detail": f"Moved to {redirect_to}.", "code": "moved"})


class CommonMiddleware(common.CommonMiddleware):
    response_redirect_class = PermanentRedirect

    def get_full_path_with_slash(self, request):
        # Django refuses to redirect writes in DEBUG because a 301 drops the body; a 308 does not.
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))


# A client's request id is kept when it is one a log line and a header can carry safely: printable ASCII without
# spaces or quotes, at most 200 characters (a UUID, a trace id, a load balancer's id). Otherwise one is made.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,200}")


def request_id(meta: dict) -> str:
    """The request's id: the client's `X-Request-ID` when it is sane, else a new UUID (hex)."""
    sent = meta.get("HTTP_X_REQUEST_ID", "")
    return sent if REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


class RequestIDMiddleware:
    """Gives every request an id (`request.request_id`, recorded in the history of what it changes) and echoes it
    on the response as `X-Request-ID`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id(request.META)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
