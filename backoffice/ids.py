"""Integer bounds of the contract and the parser of ids that arrive as text (paths, headers,
admin query parameters)."""

from __future__ import annotations

from backoffice.errors import InvalidInput

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# More digits than any int64 has: refused before int() is asked to convert it (Python refuses
# strings over 4,300 digits with a ValueError, and converting long ones costs time).
_MAX_ID_DIGITS = len(str(INT64_MAX))


def parse_id(value: str, field: str) -> int:
    """An id in a path, header or query parameter: int64 >= 1 written in ASCII digits; anything
    else raises ``InvalidInput(field, ...)``."""
    value = value.strip()
    if (
        not value.isascii()
        or not value.isdigit()
        or len(value.lstrip("0")) > _MAX_ID_DIGITS
        or not 1 <= int(value) <= INT64_MAX
    ):
        raise InvalidInput(field, f"Ensure this value is an integer between 1 and {INT64_MAX}.")
    return int(value)


def whole_number(value: str, maximum: int = INT64_MAX) -> int | None:
    """A number typed in a search or filter: ASCII digits up to ``maximum``, else None (before
    ``int()``, which takes "١٢" and refuses "²" and strings over 4,300 digits)."""
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value.lstrip("0")) > _MAX_ID_DIGITS:
        return None
    number = int(value)
    return number if number <= maximum else None
