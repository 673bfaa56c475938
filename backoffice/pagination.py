"""The API's pagination: DRF's page numbers and cursors with a strict ``page_size``, and the same
page-number pages over a one-statement fetch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request

from backoffice.errors import InvalidInput
from backoffice.ids import INT64_MAX

MAX_PAGE_DIGITS = len(str(INT64_MAX))
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
PAGE_SIZE_PARAM = "page_size"


def page_size_of(request: Request) -> int:
    """``page_size``: absent is the default; otherwise 1 to ``MAX_PAGE_SIZE`` in ASCII digits, or
    a 400 naming it. DRF's own reading falls back to the default on junk (``abc``, ``0``) and cuts
    what is too large, so a client's mistake came back as a page it did not ask for."""
    raw = request.query_params.get(PAGE_SIZE_PARAM)
    if raw is None:
        return DEFAULT_PAGE_SIZE
    # An integer written as the document says: no sign, no leading zero ("010" is not 10).
    if not (
        raw.isascii() and raw.isdigit() and not raw.startswith("0") and len(raw) <= 3 and int(raw) <= MAX_PAGE_SIZE
    ):
        raise InvalidInput(PAGE_SIZE_PARAM, f"Ensure this value is an integer between 1 and {MAX_PAGE_SIZE}.")
    return int(raw)


class StandardPagination(PageNumberPagination):
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = PAGE_SIZE_PARAM
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return page_size_of(request)


class StandardCursorPagination(CursorPagination):
    """Cursor pages (no ``count(*)``, stable under concurrent inserts) with the same ``page_size``."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = PAGE_SIZE_PARAM
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return page_size_of(request)


class FetchedPagination(StandardPagination):
    """``StandardPagination``'s pages and links over a ``fetch(offset, limit) -> (rows, total)``
    that reads a page and the total in one statement, where DRF's paginator counts first and then
    selects (two round trips, two compiles). Same parameters, same errors ("Invalid page.")."""

    def paginate_fetch(self, request: Request, fetch: Callable[[int, int], tuple[Sequence[Any], int]]) -> list[Any]:
        self.request = request
        page_size = self.get_page_size(request) or self.page_size
        # Absent is the first page; given, it must be a page (an empty ``page=`` is not one).
        raw = request.query_params.get(self.page_query_param, "1")
        if raw in self.last_page_strings:
            rows, total = fetch(0, page_size)
            number = max(1, -(-total // page_size))
            if number > 1:
                rows, total = fetch((number - 1) * page_size, page_size)
        else:
            # Digits only, and few enough that the page's offset fits the database's bigint (past
            # it no page exists anyway): int() of thousands of digits, or an offset that
            # overflows, would otherwise be a 500. Written as the document's integer: no leading zero
            # ("01" is not a page number: Schemathesis' negative mode found it answered).
            digits = raw.isascii() and raw.isdigit() and not raw.startswith("0") and len(raw) <= MAX_PAGE_DIGITS
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
