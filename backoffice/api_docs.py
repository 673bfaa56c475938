"""The API's OpenAPI description helpers: id parameters with their bounds, the error answers in the
contract's shapes, the page parameters and shapes. The document must say exactly what the API
answers: Schemathesis holds the API to it with no allowance (``phones/tests/test_schemathesis.py``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from backoffice.ids import INT64_MAX
from backoffice.pagination import MAX_PAGE_SIZE

# The contract's BadRequestError and SimpleError, by the same component names.
SimpleError = inline_serializer("SimpleError", {"message": serializers.CharField()})
BadRequestError = inline_serializer(
    "BadRequestError",
    {"message": serializers.CharField(), "field": serializers.CharField()},
)

# An id as ``backoffice.ids.parse_id`` accepts it: int64, at least 1.
ID_SCHEMA: dict[str, Any] = {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX}


def id_parameter(name: str, description: str, location: str = OpenApiParameter.PATH) -> OpenApiParameter:
    """An id in the path (required), a header or the query (optional)."""
    return OpenApiParameter(
        name,
        ID_SCHEMA,
        location,
        required=location == OpenApiParameter.PATH,
        description=description,
    )


def error(description: str, *, bad_request: bool = False) -> OpenApiResponse:
    return OpenApiResponse(BadRequestError if bad_request else SimpleError, description=description)


# What any operation may answer, by status; an operation adds its own texts (409, 422...).
_ERRORS: dict[int, OpenApiResponse] = {
    400: error("Bad request: the first ill-formatted field, parameter or header", bad_request=True),
    401: error("Missing, invalid or expired token"),
    403: error("The operator's roles do not allow this"),
    404: error("Not found: no such resource for this operator, page or cursor"),
    413: error("The request body is too large"),
    415: error("The request body is not JSON (Content-Type: application/json)"),
    500: error("Internal server error"),
}


def errors(
    *, body: bool = False, authenticated: bool = True, not_found: bool = True, **overrides: OpenApiResponse
) -> dict[int, Any]:
    """The error answers of an operation: 400 and 500 always; 401 and 403 unless it is public;
    404 when a path id, a page or a cursor can name nothing; 413 and 415 when it reads a body.
    ``overrides`` (``e409=error(...)``) add or replace statuses with the operation's own texts."""
    statuses = [400, 500]
    if authenticated:
        statuses += [401, 403]
    if not_found:
        statuses.append(404)
    if body:
        statuses += [413, 415]
    result: dict[int, Any] = {status: _ERRORS[status] for status in sorted(statuses)}
    for key, response in overrides.items():
        result[int(key.removeprefix("e"))] = response
    return dict(sorted(result.items()))


PAGE_SIZE = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    OpenApiParameter.QUERY,
    description=f"Items per page (default 50, at most {MAX_PAGE_SIZE}).",
)
PAGE = OpenApiParameter(
    "page",
    {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "enum": ["last"]}]},
    OpenApiParameter.QUERY,
    description="Page number from 1, or `last`. A page past the last is 404 `Invalid page.`",
)
CURSOR = OpenApiParameter(
    "cursor",
    str,
    OpenApiParameter.QUERY,
    description="The opaque cursor of a `next` or `previous` link. One not made by the API is 404 `Invalid cursor`.",
)


def paginated(name: str, item: type[serializers.Serializer], *, with_count: bool = True) -> serializers.Serializer:
    """OpenAPI shape of a page: DRF's ``count``/``next``/``previous``/``results``."""
    fields: dict[str, serializers.Field] = {
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
    }
    if with_count:
        fields = {"count": serializers.IntegerField(min_value=0), **fields}
    return inline_serializer(name, fields)
