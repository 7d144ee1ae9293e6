"""The one response renderer: DRF's JSON, written by orjson."""

import re

import orjson
from rest_framework import renderers

__all__ = ["JSONRenderer"]

# orjson writes a float below 1e-4 in other digits than Python's repr: 0.00001 for 1e-05, 1e-7 for 1e-07. Every such
# number contains "0.0000" or a digit before a one-digit negative exponent (and so, harmlessly, may a string).
# Both searches start with a literal, which the re module finds at memchr speed.
ONE_DIGIT_EXPONENT = re.compile(rb"e-[0-9](?![0-9])")


def _float_repr_differs(body: bytes) -> bool:
    return b"0.0000" in body or any(
        body[m.start() - 1 : m.start()].isdigit() for m in ONE_DIGIT_EXPONENT.finditer(body)
    )


class JSONRenderer(renderers.JSONRenderer):
    """Byte for byte what DRF's JSONRenderer writes (compact, UTF-8, U+2028/U+2029 escaped), several times faster.

    Dates and times, decimals and anything else orjson does not know go through DRF's encoder; a body orjson cannot
    write (an integer beyond 64 bits, a non-string key, nesting over 255 levels) or writes differently (a small float)
    is written by DRF's renderer instead, as is any indented, non-compact or non-strict output. One difference
    remains: a NaN or infinite float, which no stored value holds, would be written as null where DRF's fails.
    """

    _default = staticmethod(renderers.JSONRenderer.encoder_class().default)

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            data is None
            or self.ensure_ascii
            or not self.compact
            or not self.strict
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(
                data,
                default=self._default,
                option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS,
            )
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _float_repr_differs(body):
            return super().render(data, accepted_media_type, renderer_context)
        return body.replace("\u2028".encode(), rb"\u2028").replace("\u2029".encode(), rb"\u2029")
