"""The API's OpenAPI description helpers: the error shapes and the page shape."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

SimpleError = inline_serializer("SimpleError", {"message": serializers.CharField()})
BadRequestError = inline_serializer(
    "BadRequestError",
    {"message": serializers.CharField(), "field": serializers.CharField()},
)


def error(description: str, *, bad_request: bool = False) -> OpenApiResponse:
    return OpenApiResponse(BadRequestError if bad_request else SimpleError, description=description)


COMMON_ERRORS = {
    400: error("Bad request: the first ill-formatted field", bad_request=True),
    401: error("Missing, invalid or expired token"),
    403: error("The operator's roles do not allow this"),
    500: error("Internal server error"),
}


def paginated(name: str, item: type[serializers.Serializer], *, with_count: bool = True) -> serializers.Serializer:
    """OpenAPI shape of a page: DRF's ``count``/``next``/``previous``/``results``."""
    fields: dict[str, serializers.Field] = {
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
    }
    if with_count:
        fields = {"count": serializers.IntegerField(), **fields}
    return inline_serializer(name, fields)
