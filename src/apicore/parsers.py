"""The one request parser: JSON, with nesting too deep for Python's parser answered as a parse error."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

__all__ = ["JSONParser"]


class JSONParser(parsers.JSONParser):
    # The body's size is bounded before parsing: DATA_UPLOAD_MAX_MEMORY_SIZE, answered 413 by the exception handler.
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
