"""Audit entries built and hashed: pure functions, nothing is written here.

The phones unit of work (``phones.changes``) is the only writer of entries: it builds them with
``build_entry`` while it holds the rows they record, moves the chain head and flushes them with
the change, in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from audit.events import build_payload
from audit.models import AuditEntry

if TYPE_CHECKING:
    from backoffice.actor import Actor


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


def build_entry(
    *,
    actor: Actor,
    event: str,
    context: AuditContext,
    obj: dict[str, Any],
    changes: dict[str, list[Any]],
    phone_id: int | None,
    account_id: int | None,
    prev_hash: str,
    operation: tuple[str, str] | None = None,
) -> AuditEntry:
    """An audit entry ready to insert, its hash chained to ``prev_hash``; nothing is written.

    ``prev_hash`` is the hash of the subject's latest entry ("" for its first), read by the
    unit of work while it holds the subject's row lock, so each chain stays linear.
    """
    roles = list(actor.roles)
    payload = build_payload(
        event=event, email=actor.email, roles=roles, origin=context.origin, obj=obj, operation=operation
    )
    fields = {
        "event": event,
        "phone_id": phone_id,
        "account_id": account_id,
        "operator_id": actor.id,
        "operator_email": actor.email,
        "operator_roles": roles,
        "origin": context.origin,
        "request_id": context.request_id,
        "ip_address": context.ip_address,
        "created_at": timezone.now(),
        "payload": payload,
        "changes": changes,
    }
    return AuditEntry(prev_hash=prev_hash, hash=entry_digest(prev_hash=prev_hash, **fields), **fields)
