"""Tamper detection over the append-only audit trail.

Each phone's entries form an HMAC chain: an entry's ``hash`` covers everything it says plus the
previous entry's hash. Recomputing the chain finds an edited entry (hash mismatch), a removed or
inserted one (broken ``prev_hash`` link), and a removed latest entry (the phone no longer
matches its latest recorded state, or its recorded chain head is another entry). Forging a
consistent chain needs ``AUDIT_HMAC_KEY``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from audit.models import AuditEntry, AuditEvent
from audit.services import entry_digest

STATE_EVENTS = (AuditEvent.PHONE_CREATION, AuditEvent.PHONE_CHANGE)


# How the audited subject stands now, for a phone id: (its state as an audit ``object``, its
# recorded chain head), or None when it does not exist. Registered by the phones app (its
# ``AppConfig.ready``), so that this app reads phones without importing them.
SubjectState = Callable[[int], "tuple[dict[str, Any], str] | None"]
_subject_state: list[SubjectState] = []


def register_subject_state(reader: SubjectState) -> None:
    _subject_state[:] = [reader]


@dataclass(frozen=True)
class IntegrityProblem:
    phone_id: int | None
    entry_id: int | None
    problem: str


def _digest(entry: AuditEntry, prev_hash: str) -> str:
    return entry_digest(
        prev_hash=prev_hash,
        event=entry.event,
        phone_id=entry.phone_id,
        account_id=entry.account_id,
        operator_id=entry.operator_id,
        operator_email=entry.operator_email,
        operator_roles=entry.operator_roles,
        origin=entry.origin,
        request_id=entry.request_id,
        ip_address=entry.ip_address,
        created_at=entry.created_at,
        payload=entry.payload,
        changes=entry.changes,
    )


def audit_verify(*, phone_ids: Iterable[int] | None = None) -> Iterator[IntegrityProblem]:
    """Yield every problem found; streams entries in (phone, id) order, memory stays flat."""
    if not _subject_state:
        raise RuntimeError("no subject state registered (phones app not installed?)")
    subject_state = _subject_state[0]
    entries = AuditEntry.objects.filter(phone_id__isnull=False).order_by("phone_id", "id")
    if phone_ids is not None:
        entries = entries.filter(phone_id__in=list(phone_ids))
    current_phone: int | None = None
    prev_hash = ""
    last_state: dict | None = None

    def finish(phone_id: int | None, state: dict | None, last_hash: str) -> Iterator[IntegrityProblem]:
        if phone_id is None:
            return
        current = subject_state(phone_id)
        if current is None:
            yield IntegrityProblem(phone_id, None, "entries reference a phone that does not exist")
            return
        now, head = current
        if state != now:
            yield IntegrityProblem(phone_id, None, "the phone differs from its latest audited state")
        if head and head != last_hash:
            yield IntegrityProblem(phone_id, None, "the phone's chain head is not its latest entry")

    for entry in entries.iterator(chunk_size=2000):
        if entry.phone_id != current_phone:
            yield from finish(current_phone, last_state, prev_hash)
            current_phone, prev_hash, last_state = entry.phone_id, "", None
        if entry.prev_hash != prev_hash:
            yield IntegrityProblem(entry.phone_id, entry.pk, "chain broken: an entry before it was removed or added")
        if _digest(entry, entry.prev_hash) != entry.hash:
            yield IntegrityProblem(entry.phone_id, entry.pk, "hash mismatch: the entry was altered")
        prev_hash = entry.hash
        if entry.event in STATE_EVENTS:
            last_state = entry.payload.get("object")
    yield from finish(current_phone, last_state, prev_hash)
