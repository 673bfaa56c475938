"""The API's page-number pagination: DRF's, and the same pages over a one-statement fetch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from backoffice.ids import INT64_MAX

MAX_PAGE_DIGITS = len(str(INT64_MAX))


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
            # Digits only, and few enough that the page's offset fits the database's bigint (past
            # it no page exists anyway): int() of thousands of digits, or an offset that
            # overflows, would otherwise be a 500.
            digits = raw.isascii() and raw.isdigit() and len(raw.lstrip("0")) <= MAX_PAGE_DIGITS
            number = int(raw) if digits else 0
            if number < 1 or (number - 1) * page_size > INT64_MAX:
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
