"""The contract's audit events (domain ``audit``, version 1) and their JSON schemas."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from audit.models import AuditEvent

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILES = {
    AuditEvent.PHONE_CREATION: "audit-phone-creation.schema.json",
    AuditEvent.PHONE_CHANGE: "audit-phone-change.schema.json",
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


def build_payload(*, event: str, email: str, roles: list[str], origin: str, obj: dict[str, Any]) -> dict[str, Any]:
    method, uri = OPERATIONS[AuditEvent(event)]
    return {
        "method": method,
        "uri": uri,
        "email": email,
        "roles": roles,
        "origin": origin,
        "object": obj,
    }
