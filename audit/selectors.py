"""Reads of the audit trail through one access gate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from audit.models import AuditEntry
from backoffice import roles

if TYPE_CHECKING:
    from backoffice.models import User


def audit_entries_visible_to(user: User) -> QuerySet[AuditEntry]:
    """All entries for auditors; only their own for operators with the "own changes" right."""
    if user.has_perm(roles.VIEW_AUDIT):
        return AuditEntry.objects.all()
    if user.has_perm(roles.VIEW_OWN_AUDIT):
        return AuditEntry.objects.filter(operator_id=user.pk)
    return AuditEntry.objects.none()
