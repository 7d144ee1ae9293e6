import json

from django.http import HttpResponsePermanentRedirect
from django.middleware import common
from django.utils.http import escape_leading_slashes

__all__ = ["CommonMiddleware"]


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
