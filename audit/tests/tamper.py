"""What an attacker with the audit table's ownership does: switch its guards off, change rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

CHAINLESS = "the phone has no audit entries: its chain was removed"


def tamper(sql: str, params: Sequence[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks may block ALTER
            # USER: every trigger of ours (append-only rows, TRUNCATE), not the foreign keys'.
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")


def wipe_trail() -> None:
    """The pentest's wipe: TRUNCATE on PostgreSQL (SQLite has none)."""
    tamper("TRUNCATE audit_auditentry" if connection.vendor == "postgresql" else "DELETE FROM audit_auditentry")


def remove_phone(phone_id: int) -> None:
    """A phone and its whole chain gone: nothing is left to walk, and no phone lacks a chain."""
    tamper("DELETE FROM audit_auditentry WHERE phone_id = %s", [phone_id])
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM phones_phone WHERE id = %s", [phone_id])
