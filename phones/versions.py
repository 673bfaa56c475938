"""A phone's version token: what a reader saw, so that a later write can refuse to overwrite a
change made since (the admin form's hidden ``version``, the API's ``ETag`` / ``If-Match``).

The token is taken from the phone as it is stored: every field the API shows, ``updated_at``
included. ``updated_at`` moves on every change of those fields and on nothing else, so the token
changes exactly when what a reader saw changes. The audit chain head was the other candidate; it
also moves on provider-link changes and on every sync outcome the workers record (a failing sync
records one per retry, for hours), which would have refused saves that overwrite nothing, and an
``ETag`` must not change while the representation stays the same.

Format: ``<updated_at in microseconds since the epoch>-<digest>``. The instant lets the admin find
the changes made since (``version_instant``); the digest covers every field, so two states that
shared an ``updated_at`` (a clock stepping back) still differ. Not a secret: it says nothing the
phone's own representation does not.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from phones.models import Phone

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _microseconds(moment: datetime) -> int:
    # Integer arithmetic: ``timestamp() * 1e6`` goes through a float.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def phone_version(phone: Phone) -> str:
    """The version token of ``phone`` as read (a row from the database, not an edited copy)."""
    instant = _microseconds(phone.updated_at)
    state = [
        phone.pk,
        phone.account_id,
        phone.customer_id,
        phone.number,
        phone.type,
        phone.area_code,
        phone.country_code,
        phone.extension,
        phone.active,
        phone.e164,
        instant,
    ]
    digest = hashlib.sha256(json.dumps(state, separators=(",", ":")).encode()).hexdigest()[:16]
    return f"{instant}-{digest}"


def version_instant(version: str) -> datetime | None:
    """When the phone was last changed as of ``version``; None for a token we did not make."""
    instant, dash, digest = version.partition("-")
    if not dash or not instant.isascii() or not instant.isdigit() or len(instant) > 19 or len(digest) != 16:
        return None
    return _EPOCH + int(instant) * _MICROSECOND
