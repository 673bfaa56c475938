"""Shared pieces of the API and its OpenAPI description."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

from phones.errors import PhoneValidationError
from phones.numbers import INT64_MAX

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


def parse_id(value: str, field: str) -> int:
    """Ids in paths and headers are int64 >= 1; anything else is a 400 naming the parameter."""
    value = value.strip()
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= INT64_MAX:
        raise PhoneValidationError(field, f"Ensure this value is an integer between 1 and {INT64_MAX}.")
    return int(value)


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


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
