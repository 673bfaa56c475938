"""The contract's audit events (domain ``audit``, version 1) and their JSON schemas, and our own
access and operator events in the same envelope, checked by a schema of our own."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from audit.models import AuditEvent

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
# Access and operator events: about no phone, kept in the access chain (``audit.access``).
ACCESS_EVENTS = frozenset(
    {
        AuditEvent.OPERATOR_SIGNED_IN,
        AuditEvent.OPERATOR_SIGN_IN_FAILED,
        AuditEvent.OPERATOR_LOCKED_OUT,
        AuditEvent.OPERATOR_UNLOCKED,
        AuditEvent.OPERATOR_SIGNED_OUT,
        AuditEvent.OPERATOR_PASSWORD_CHANGED,
        AuditEvent.OPERATOR_CREATED,
        AuditEvent.OPERATOR_CHANGED,
        AuditEvent.OPERATOR_DEACTIVATED,
        AuditEvent.OPERATOR_ROLES_CHANGED,
        AuditEvent.ROLE_PERMISSIONS_CHANGED,
        AuditEvent.PHONES_EXPORTED,
        AuditEvent.OPERATOR_MFA_ENROLLED,
        AuditEvent.OPERATOR_MFA_RESET,
        AuditEvent.API_KEY_ISSUED,
        AuditEvent.API_KEY_REVOKED,
    }
)
# The two contract schemas are copies of /work/shared/contracts' (unchanged); the access schema
# is ours: the same envelope, an ``object`` of known members only (no room for a secret).
ACCESS_SCHEMA_FILE = "access-event.schema.json"
SCHEMA_FILES = {
    AuditEvent.PHONE_CREATION: "audit-phone-creation.schema.json",
    AuditEvent.PHONE_CHANGE: "audit-phone-change.schema.json",
    **dict.fromkeys(ACCESS_EVENTS, ACCESS_SCHEMA_FILE),
}
# The logical operation, whatever the entry point (admin form, API, command, task).
OPERATIONS = {
    AuditEvent.PHONE_CREATION: ("POST", "/v1/accounts/:accountId/phones"),
    AuditEvent.PHONE_CHANGE: ("PATCH", "/v1/accounts/:accountId/phones/:phoneId"),
    # Provider sync (not in the contract; same envelope). Outcomes written by workers name the
    # sync operation, whatever caused the job.
    AuditEvent.PHONE_LINK_CHANGE: ("PUT", "/v1/accounts/:accountId/phones/:phoneId/provider-link"),
    AuditEvent.PHONE_UNLINK: ("DELETE", "/v1/accounts/:accountId/phones/:phoneId/provider-link"),
    AuditEvent.PHONE_SYNC_REQUESTED: ("POST", "/v1/accounts/:accountId/phones/:phoneId/sync"),
    AuditEvent.PHONE_SYNC_SUCCEEDED: ("POST", "/v1/accounts/:accountId/phones/:phoneId/sync"),
    AuditEvent.PHONE_SYNC_FAILED: ("POST", "/v1/accounts/:accountId/phones/:phoneId/sync"),
    AuditEvent.PHONE_PROVISIONING_FINISHED: ("POST", "/v1/accounts/:accountId/phones/:phoneId/sync"),
}


@cache
def event_schema(event: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / SCHEMA_FILES[AuditEvent(event)]).read_text())


def build_payload(
    *,
    event: str,
    email: str,
    roles: list[str],
    origin: str,
    obj: dict[str, Any],
    operation: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The event's envelope. ``operation`` (method, path) is the request's for access events,
    whose operation is where they happened (``/admin/login/``, ``/auth/token``); phone events
    name their logical operation (``OPERATIONS``)."""
    method, uri = operation if operation is not None else OPERATIONS[AuditEvent(event)]
    return {
        "method": method,
        "uri": uri,
        "email": email,
        "roles": roles,
        "origin": origin,
        "object": obj,
    }
