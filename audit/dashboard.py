"""The audit log's dashboard card (registered in ``AuditConfig.ready``): changes of the last 24 h."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from audit.events import ACCESS_EVENTS
from audit.selectors import audit_entries_visible_to
from backoffice.dashboard import can_view_audit


def recent_changes_card(request: HttpRequest) -> dict[str, Any]:
    """Entries of the last 24 hours the operator may see, by event (``show_recent_changes``)."""
    if not can_view_audit(request):
        return {"show_recent_changes": False}
    since = timezone.now() - timedelta(hours=24)
    # Changes of phones: sign-ins, operators and exports are in the audit log, not in this count.
    recent = audit_entries_visible_to(request.user).filter(created_at__gte=since).exclude(event__in=ACCESS_EVENTS)
    by_event = dict(recent.order_by().values_list("event").annotate(n=Count("id")))
    return {
        "show_recent_changes": True,
        "changes_24h": sum(by_event.values()),
        "created_24h": by_event.get("phone_creation", 0),
        "changed_24h": by_event.get("phone_change", 0),
        # From the day (in the operator's zone) the 24 hours began: the list's date range, whose
        # days are the operator's (a bare date in ``created_at__gte`` was read as a naive time).
        "audit_url": reverse("admin:audit_auditentry_changelist")
        + "?created_at_from="
        + timezone.localdate(since).isoformat(),
    }
