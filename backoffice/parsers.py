"""Request bodies within bounds before they are parsed: a size limit and a JSON nesting limit.

The standard library's JSON decoder recurses once per nesting level: a body of 100,000 ``[``
raises ``RecursionError`` (a 500) after spending the stack. No contract body nests deeper than
three levels (a provider link's ``settings``), so the limit below is generous; it is checked on
the text before ``json.loads`` sees it, with a scan that costs nothing for ordinary bodies.
"""

from __future__ import annotations

import re
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from backoffice.errors import InvalidInput

MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels."
# A JSON string (skipped whole, so brackets inside it do not count) or one bracket. Possessive
# quantifiers: the regex engine never backtracks over a long string.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')


def body_too_large_message(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes."


class RequestBodyTooLarge(exceptions.APIException):
    """413: a body over ``API_MAX_BODY_BYTES`` (``backoffice.middleware`` refuses most of them
    from their ``Content-Length`` before any is read; this is the parser's own bound)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON ``text`` nests arrays and objects deeper than ``limit`` (linear, no
    recursion; malformed text is left to the parser to refuse)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot nest deeper than it has brackets: the usual body stops here
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


# No contract integer has more digits than int64 (19); Python refuses past 4,300 with its own
# advice ("use sys.set_int_max_str_digits()"), which an error message must not echo.
_INT_MAX_DIGITS = 64


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _INT_MAX_DIGITS:
        raise ValueError(f"a number has more than {_INT_MAX_DIGITS} digits")
    return int(text)


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser (same charset handling, strict constants and messages) that refuses a
    body over ``API_MAX_BODY_BYTES`` (413) and one nested deeper than ``MAX_JSON_DEPTH`` (400
    naming ``body``) before decoding it."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestBodyTooLarge(body_too_large_message(limit))
        encoding = get_encoding(parser_context or {})
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"JSON parse error - the body is not valid {encoding}") from None
        if json_depth_exceeds(text):
            raise InvalidInput("body", TOO_DEEP)
        try:
            return json.loads(
                text, parse_constant=json.strict_constant if self.strict else None, parse_int=_bounded_int
            )
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
