"""What an attacker with the audit table's ownership does: switch its guards off, change rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection


def tamper(sql: str, params: Sequence[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks may block ALTER
            # USER: every trigger of ours (append-only rows, TRUNCATE), not the foreign keys'.
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
