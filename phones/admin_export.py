"""CSV export of phones, streamed so that 100k rows never sit in memory at once."""

from __future__ import annotations

import csv
import re
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
_FORMULA_START = ("=", "@", "\t", "\r")
# A leading + or - followed only by phone punctuation is a number, not a formula.
_SIGNED_NUMBER = re.compile(r"^[+-][0-9 ().-]*$")


class _Echo:
    """A file-like object whose ``write`` hands the line back, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas; "+55 11 ..." (E.164, formatted) stays as it is."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_FORMULA_START) or (value[0] in "+-" and not _SIGNED_NUMBER.match(value)):
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
        yield writer.writerow([_safe(record[column]) for column in COLUMNS])


def stream_phones_csv(queryset: QuerySet[Phone]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(queryset), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="phones-{stamp}.csv"'
    return response
