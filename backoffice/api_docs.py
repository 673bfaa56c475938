"""Shared pieces of the API and its OpenAPI description."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

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


class FetchedPagination(StandardPagination):
    """``StandardPagination``'s pages and links over a ``fetch(offset, limit) -> (rows, total)``
    that reads a page and the total in one statement, where DRF's paginator counts first and then
    selects (two round trips, two compiles). Same parameters, same errors ("Invalid page.")."""

    def paginate_fetch(self, request: Request, fetch: Callable[[int, int], tuple[Sequence[Any], int]]) -> list[Any]:
        self.request = request
        page_size = self.get_page_size(request) or self.page_size
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:
            rows, total = fetch(0, page_size)
            number = max(1, -(-total // page_size))
            if number > 1:
                rows, total = fetch((number - 1) * page_size, page_size)
        else:
            number = int(raw) if raw.isascii() and raw.isdigit() else 0
            if number < 1:
                raise NotFound(self.invalid_page_message)
            rows, total = fetch((number - 1) * page_size, page_size)
            if not rows and number > 1:
                raise NotFound(self.invalid_page_message)
        paginator = Paginator((), page_size)
        paginator.count = total  # a cached_property: the total is known, no COUNT query
        self.page = Page(list(rows), number, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return self.page.object_list


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
