"""Signed checkpoints of the whole trail: evidence, kept off the database, of what it held.

The per-phone chains prove each surviving chain whole, but not that no chain (or no newest entry)
was removed with everything that pointed at it. A checkpoint says: at ``created_at`` the trail
held ``count`` entries, the newest being ``last_id`` with hash ``last_hash``; an HMAC with
``AUDIT_HMAC_KEY`` over those makes it unforgeable. Entries are append-only, so a later trail
must still hold that entry with that hash and at least ``count`` entries with ids up to
``last_id`` (more, never fewer: an id is taken before its transaction commits, so a slower
transaction may add an entry below ``last_id`` after the checkpoint).

Checkpoints are not stored in a table of ours: whoever can remove entries from the database can
remove checkpoints kept beside them, so a copy in the database proves nothing the trail does not.
``manage.py audit_checkpoint`` prints one JSON line to be shipped elsewhere (a log collector, a
write-once bucket); ``manage.py audit_verify --checkpoint FILE`` checks the trail against them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from audit.models import AuditEntry

FIELDS = ("count", "last_id", "last_hash", "created_at", "hmac")


def _signature(*, count: int, last_id: int | None, last_hash: str, created_at: str) -> str:
    # The leading tag keeps a checkpoint's material apart from an entry's (audit.services).
    material = json.dumps(["audit_checkpoint", count, last_id, last_hash, created_at], separators=(",", ":"))
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), material.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    count: int
    last_id: int | None
    last_hash: str
    created_at: str
    hmac: str

    @property
    def signed(self) -> bool:
        expected = _signature(
            count=self.count, last_id=self.last_id, last_hash=self.last_hash, created_at=self.created_at
        )
        return hmac.compare_digest(expected, self.hmac)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        """Parse one line; ValueError says what is wrong with it. The signature is not checked here."""
        data: Any = json.loads(line)
        if not isinstance(data, dict) or set(data) != set(FIELDS):
            raise ValueError(f"a checkpoint is a JSON object of exactly {', '.join(FIELDS)}")
        count, last_id = data["count"], data["last_id"]
        if type(count) is not int or count < 0:
            raise ValueError("count must be an integer from 0")
        if last_id is not None and (type(last_id) is not int or last_id < 1):
            raise ValueError("last_id must be an integer from 1, or null")
        if (last_id is None) != (count == 0):
            raise ValueError("last_id is null exactly when count is 0")
        if not all(isinstance(data[key], str) for key in ("last_hash", "created_at", "hmac")):
            raise ValueError("last_hash, created_at and hmac must be strings")
        return cls(**data)


def take_checkpoint() -> Checkpoint:
    """Sign what the trail holds now. The count and the newest id come from one statement (one
    snapshot); the newest entry cannot change after it (append-only)."""
    totals = AuditEntry.objects.aggregate(count=Count("id"), last_id=Max("id"))
    last_id = totals["last_id"]
    last_hash = "" if last_id is None else AuditEntry.objects.values_list("hash", flat=True).get(pk=last_id)
    fields = {
        "count": totals["count"],
        "last_id": last_id,
        "last_hash": last_hash,
        "created_at": timezone.now().isoformat(),
    }
    return Checkpoint(**fields, hmac=_signature(**fields))
