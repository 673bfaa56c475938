"""The only writer of audit entries. Callers are services that already hold a transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from audit.events import build_payload
from audit.models import AuditEntry
from backoffice.auth import operator_roles
from backoffice.db import write_rows

if TYPE_CHECKING:
    from backoffice.models import User
    from phones.models import Phone


@dataclass(frozen=True)
class AuditContext:
    """Where a change came from: origin (``CRM``, ``API``, ...), request id, client address."""

    origin: str
    request_id: str = ""
    ip_address: str | None = None

    @classmethod
    def from_request(cls, request: HttpRequest, *, origin: str) -> AuditContext:
        return cls(
            origin=origin,
            request_id=getattr(request, "request_id", ""),
            ip_address=getattr(request, "client_ip", None),
        )


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_digest(
    *,
    prev_hash: str,
    event: str,
    phone_id: int | None,
    account_id: int | None,
    operator_id: int | None,
    operator_email: str,
    operator_roles: list[str],
    origin: str,
    request_id: str,
    ip_address: str | None,
    created_at: datetime,
    payload: dict[str, Any],
    changes: dict[str, Any],
) -> str:
    """HMAC-SHA256 over everything an entry says, chained to the phone's previous entry."""
    material = _canonical(
        [
            prev_hash,
            event,
            phone_id,
            account_id,
            operator_id,
            operator_email,
            operator_roles,
            origin,
            request_id,
            ip_address,
            created_at.isoformat(),
            payload,
            changes,
        ]
    )
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), material, hashlib.sha256).hexdigest()


def audit_entry_build(
    *,
    actor: User,
    event: str,
    context: AuditContext,
    obj: dict[str, Any],
    changes: dict[str, list[Any]],
    phone_id: int | None,
    account_id: int | None,
    prev_hash: str,
) -> AuditEntry:
    """An audit entry ready to insert, its hash chained to ``prev_hash``; nothing is written.

    ``prev_hash`` is the hash of the phone's latest entry ("" for its first), read by the caller
    while it holds the phone's row lock, so each phone's chain stays linear.
    """
    roles = operator_roles(actor)
    email = actor.email
    payload = build_payload(event=event, email=email, roles=roles, origin=context.origin, obj=obj)
    fields = {
        "event": event,
        "phone_id": phone_id,
        "account_id": account_id,
        "operator_id": actor.pk,
        "operator_email": email,
        "operator_roles": roles,
        "origin": context.origin,
        "request_id": context.request_id,
        "ip_address": context.ip_address,
        "created_at": timezone.now(),
        "payload": payload,
        "changes": changes,
    }
    return AuditEntry(prev_hash=prev_hash, hash=entry_digest(prev_hash=prev_hash, **fields), **fields)


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit entries are written in the transaction of the change they record")


def audit_entry_insert(
    entry: AuditEntry,
    *,
    together_with: Model | None = None,
    updating: tuple[Model, Sequence[str]] | None = None,
) -> AuditEntry:
    """Insert a built entry. Must run inside the transaction of the change it records.

    On PostgreSQL the entry can go in one statement with the write it records
    (``backoffice.db.write_rows``): ``together_with``, the new row it records (its key reserved
    beforehand, see ``reserve_id``), a statement that is one transaction by itself, so no atomic
    block is needed; or ``updating``, the (instance, fields) of the locked row whose change it
    records, inside the caller's transaction.
    """
    if together_with is None:
        _require_transaction()
    write_rows(update=updating, insert=[entry] if together_with is None else [together_with, entry])
    return entry


def audit_entries_insert(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Insert built entries in one statement (batch writers). Same contract as ``audit_entry_insert``."""
    _require_transaction()
    return AuditEntry.objects.bulk_create(entries) if entries else []


def audit_record(
    *,
    actor: User,
    event: str,
    context: AuditContext,
    obj: dict[str, Any],
    changes: dict[str, list[Any]],
    phone: Phone,
    writing: Sequence[str] = (),
) -> AuditEntry:
    """Append one audit entry to ``phone``'s chain and move its head (``Phone.audit_head``) to it.

    Must run inside the caller's transaction, which holds the phone's row lock (``lock_phone``:
    ``phone.audit_head`` is then the chain's latest hash). ``writing``: fields the caller has set on
    the locked phone, written by the same UPDATE as the head; on PostgreSQL that UPDATE and the
    entry's INSERT are one statement.
    """
    entry = audit_entry_build(
        actor=actor,
        event=event,
        context=context,
        obj=obj,
        changes=changes,
        phone_id=phone.pk,
        account_id=phone.account_id,
        prev_hash=phone.audit_head,
    )
    phone.audit_head = entry.hash
    return audit_entry_insert(entry, updating=(phone, ["audit_head", *writing]))
