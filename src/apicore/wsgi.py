"""WSGI-level request policy, applied before Django builds its request."""

import io

from django.conf import settings

__all__ = ["ChunkedBodyMiddleware"]


class ChunkedBodyMiddleware:
    """Gives a chunked request body (no Content-Length) a Content-Length.

    Django reads exactly CONTENT_LENGTH bytes (none when it is missing), so without this a chunked
    PATCH would be applied as an empty one: a silent success that loses what the client sent.
    At most one byte more than DATA_UPLOAD_MAX_MEMORY_SIZE is read, enough for Django to refuse it (413).
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH"):
            # The server has already removed the chunk framing.
            body = environ["wsgi.input"].read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)
