"""Tamper detection over the append-only audit trail.

Each phone's entries form an HMAC chain: an entry's ``hash`` covers everything it says plus the
previous entry's hash. Recomputing the chain finds an edited entry (hash mismatch), a removed or
inserted one (broken ``prev_hash`` link), and a removed latest entry (the phone no longer
matches its latest recorded state, or its recorded chain head is another entry). Forging a
consistent chain needs ``AUDIT_HMAC_KEY``.

Entries about no phone (access and operator events, ``audit.access``) form one more chain,
walked in id order, its head kept in the ``AuditChainHead`` row.

Walking the entries that exist cannot see what is gone as a whole, so the check also starts from
the other side: every phone must have a chain (one set-based query for phones with no entry at
all: a wiped table, or every entry of one phone removed), and signed checkpoints kept off the
database (``audit.checkpoints``) vouch for how many entries there were up to which one: removing
whole chains, phones and all, or the newest entries falls short of the latest checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef

from audit.access import access_chain_head
from audit.checkpoints import Checkpoint
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


def audit_verify(
    *, phone_ids: Iterable[int] | None = None, checkpoints: Iterable[Checkpoint] = ()
) -> Iterator[IntegrityProblem]:
    """Yield every problem found: the chains (``phone_ids``: only these phones' chains), the
    phones without a chain, the entries without a phone, then each checkpoint. Everything is
    streamed, memory stays flat."""
    if not _subject_state:
        raise RuntimeError("no subject state registered (phones app not installed?)")
    wanted = None if phone_ids is None else list(phone_ids)
    yield from _walk_chains(_subject_state[0], wanted)
    yield from _phones_without_chain(wanted)
    if wanted is None:
        yield from _entries_without_phone()
    for checkpoint in checkpoints:
        yield from verify_checkpoint(checkpoint)


def verify_checkpoint(checkpoint: Checkpoint) -> Iterator[IntegrityProblem]:
    """Does the trail still hold everything ``checkpoint`` vouched for? An unsigned checkpoint
    vouches for nothing: its signature is the finding, its figures are not compared."""
    name = f"checkpoint of {checkpoint.created_at}"
    if not checkpoint.signed:
        yield IntegrityProblem(None, checkpoint.last_id, f"{name}: its signature is wrong (forged or altered)")
        return
    if checkpoint.last_id is None:
        return  # taken on an empty trail: anything since is more
    stored = AuditEntry.objects.filter(pk=checkpoint.last_id).values_list("hash", flat=True).first()
    if stored is None:
        yield IntegrityProblem(None, checkpoint.last_id, f"{name}: the newest entry it vouched for is gone")
    elif stored != checkpoint.last_hash:
        yield IntegrityProblem(None, checkpoint.last_id, f"{name}: the newest entry it vouched for has another hash")
    held = AuditEntry.objects.filter(pk__lte=checkpoint.last_id).count()
    if held < checkpoint.count:
        yield IntegrityProblem(
            None,
            checkpoint.last_id,
            f"{name}: {held} entries up to this one, it vouched for {checkpoint.count}: entries were removed",
        )


def _phones_without_chain(phone_ids: list[int] | None) -> Iterator[IntegrityProblem]:
    """Phones no entry records: every phone has at least its creation entry, whatever its
    ``audit_head`` says (empty: the creation entry is the chain; else the hash of its latest).

    One anti-join over the phone index of the entries, streamed: on 1,000,000 phones a single
    statement, not a query per phone. The phone model is read through the entries' foreign key,
    so this app still imports nothing of phones.
    """
    phone_model = AuditEntry._meta.get_field("phone").related_model
    chainless = (
        phone_model._default_manager.filter(~Exists(AuditEntry.objects.filter(phone_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if phone_ids is not None:
        chainless = chainless.filter(pk__in=phone_ids)
    for phone_id in chainless.iterator(chunk_size=2000):
        yield IntegrityProblem(phone_id, None, "the phone has no audit entries: its chain was removed")


def _entries_without_phone() -> Iterator[IntegrityProblem]:
    """Entries about no phone form the access chain (``audit.access``: sign-ins, operators,
    roles, exports), appended under the lock of its head row, so in id order. Each must hold its
    own hash and link to the one before; the newest must be the head the row records. A row
    inserted to make up a checkpoint's count breaks the chain, and without ``AUDIT_HMAC_KEY``
    its hash is wrong; the newest entries removed leave the head naming a missing entry."""
    prev_hash = ""
    for entry in AuditEntry.objects.filter(phone_id__isnull=True).order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != prev_hash:
            yield IntegrityProblem(None, entry.pk, "access chain broken: an entry before it was removed or added")
        if _digest(entry, entry.prev_hash) != entry.hash:
            yield IntegrityProblem(None, entry.pk, "hash mismatch: the entry was altered or forged")
        prev_hash = entry.hash
    head = access_chain_head()
    if (head or "") != prev_hash:
        yield IntegrityProblem(None, None, "the access chain's head is not its latest entry: entries were removed")


def _walk_chains(subject_state: SubjectState, phone_ids: list[int] | None) -> Iterator[IntegrityProblem]:
    """Recompute each phone's chain, streaming its entries in (phone, id) order."""
    entries = AuditEntry.objects.filter(phone_id__isnull=False).order_by("phone_id", "id")
    if phone_ids is not None:
        entries = entries.filter(phone_id__in=phone_ids)
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
