"""The one request parser: JSON, bounded in size and nesting."""

import codecs

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

from apicore.exceptions import RequestTooLarge

__all__ = ["JSONParser"]


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.OMNITRON_MAX_BODY_SIZE
        # DRF reads the WSGI stream itself, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check,
        # so the size limit is enforced here, also for chunked bodies without Content-Length.
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(body, encoding)
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except (ValueError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
