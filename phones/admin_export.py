"""CSV export of phones, streamed so that 100k rows never sit in memory at once."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from phones.models import Phone
from phones.numbers import format_international

COLUMNS = (
    "id",
    "account_id",
    "customer_id",
    "number",
    "formatted",
    "e164",
    "type",
    "area_code",
    "country_code",
    "extension",
    "active",
    "created_at",
    "updated_at",
)
_FIELDS = [column for column in COLUMNS if column != "formatted"]
# OWASP's CSV injection list: a spreadsheet computes a cell that starts with one of these. No
# exception for "phone-looking" values: "-1-1", "+1-1" and "-(1)-(1)" are numbers an operator may
# type and formulas to a spreadsheet; E.164 forms get the apostrophe too (and so stay text, not a
# number in scientific notation).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose ``write`` hands the line back, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: a leading apostrophe, which spreadsheets read as "text"."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _rows(queryset: QuerySet[Phone]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    # A server-side cursor on PostgreSQL: rows arrive in chunks, never all at once.
    for row in queryset.order_by("id").values_list(*_FIELDS).iterator(chunk_size=2000):
        record = dict(zip(_FIELDS, row, strict=True))
        record["formatted"] = format_international(record["e164"])
        for stamp in ("created_at", "updated_at"):
            record[stamp] = record[stamp].isoformat()
        yield writer.writerow([safe_cell(record[column]) for column in COLUMNS])


def stream_phones_csv(queryset: QuerySet[Phone]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(queryset), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="phones-{stamp}.csv"'
    return response
