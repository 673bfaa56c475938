"""The writer of access and operator events: the trail's entries about no phone, one chain.

Sign-ins, lockouts, operators, roles and exports have no phone row to keep a chain head on, so
they share one chain, ``access``, whose head is the row ``AuditChainHead("access")``, locked
(``SELECT ... FOR UPDATE``) while an entry is appended: the chain stays linear, and as the
entry's id is drawn under that lock, id order is chain order (``audit.integrity`` walks it so).
One global chain rather than one per operator: a failed sign-in has no operator, and one order
of every access event is what an auditor reads; the lock is held for one INSERT and one UPDATE
(or until the operator change it records commits), and these events are rare next to phones'.

Why here and not in ``phones.changes`` (the unit of work, the only writer of phones, links, jobs
and the phones' entries): the events come from the core app (``backoffice``: sign-ins, operators,
roles, tokens) and the audit app, which may not import ``phones`` (import-linter's layers). This
module is the only writer of entries without a phone and of their chain head; both writers build
entries with ``audit.services.build_entry``, and ``provider_sync/tests/test_one_writer.py``
holds that nothing else writes an entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from audit.events import ACCESS_EVENTS
from audit.models import AuditChainHead, AuditEntry
from audit.services import AuditContext, build_entry

if TYPE_CHECKING:
    from backoffice.actor import Actor

ACCESS_CHAIN = "access"


def _lock_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(name=ACCESS_CHAIN).first()
    if head is None:
        # The first access event ever (or after a flush): two first events may race to create
        # the row; the conflict is ignored and both then queue on its lock.
        AuditChainHead.objects.bulk_create([AuditChainHead(name=ACCESS_CHAIN)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(name=ACCESS_CHAIN)
    return head


def record_access(
    *,
    actor: Actor,
    event: str,
    context: AuditContext,
    obj: dict[str, Any],
    changes: dict[str, list[Any]] | None = None,
    operation: tuple[str, str] = ("", ""),
) -> AuditEntry:
    """Append an access or operator event to the access chain, in the caller's transaction (a
    savepoint) or its own: the entry and the head move together or not at all. ``operation`` is
    the request's (method, path); ``obj`` must hold no secret (the schema has no place for one)."""
    if event not in ACCESS_EVENTS:
        raise ValueError(f"{event!r} is not an access event")
    with transaction.atomic():
        head = _lock_head()
        entry = build_entry(
            actor=actor,
            event=event,
            context=context,
            obj=obj,
            changes=changes or {},
            phone_id=None,
            account_id=None,
            prev_hash=head.hash,
            operation=operation,
        )
        entry.save(force_insert=True)
        head.hash = entry.hash
        head.save(update_fields=["hash"])
    return entry


def access_chain_head() -> str | None:
    """The recorded head of the access chain (None: no access event was ever written)."""
    return AuditChainHead.objects.filter(name=ACCESS_CHAIN).values_list("hash", flat=True).first()
