"""The audit log's dashboard cards (registered in ``AuditConfig.ready``): changes of the last 24 h,
phone changes per day over 30 days, the latest entries, and the operator's own latest changes.

Every figure comes through ``audit_entries_visible_to``: a role that may not read the audit sees
none of these cards, a role that reads its own entries counts only those.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.admin import entry_title
from audit.events import ACCESS_EVENTS
from audit.models import AuditEntry, AuditEvent
from audit.selectors import audit_entries_visible_to
from backoffice.dashboard import (
    DayRows,
    bar_chart,
    can_view_audit,
    can_view_phones,
    chart_days,
    daily_rows,
    figures_time,
    per_day,
)

# The chart's two series: phones created and phones changed (the contract's events).
CHARTED_EVENTS = (AuditEvent.PHONE_CREATION, AuditEvent.PHONE_CHANGE)
# What an operator does to a phone by hand; the sync outcomes a worker records in its name are not.
OWN_CHANGE_EVENTS = (
    AuditEvent.PHONE_CREATION,
    AuditEvent.PHONE_CHANGE,
    AuditEvent.PHONE_LINK_CHANGE,
    AuditEvent.PHONE_UNLINK,
    AuditEvent.PHONE_SYNC_REQUESTED,
)
RECENT_ENTRIES = 10


def audit_list_url(**filters: Any) -> str:
    query = urlencode(filters)
    return reverse("admin:audit_auditentry_changelist") + (f"?{query}" if query else "")


def changes_per_day(entries: QuerySet[AuditEntry], *, since: datetime, until: datetime | None, zone: tzinfo) -> DayRows:
    """Phone creations and changes among ``entries`` from ``since`` to ``until`` (or now), per day
    in ``zone`` and event: one GROUP BY over a range of ``audit_created_cover_idx``, read from
    the index alone."""
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return list(
        entries.filter(created_at__gte=since, event__in=CHARTED_EVENTS)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .order_by()  # the model's ordering (-id) would join the GROUP BY
        .values_list("day", "event")
        .annotate(n=Count("*"))
    )


def recent_changes_card(request: HttpRequest) -> dict[str, Any]:
    """Entries of the last 24 hours the operator may see, by event (``show_recent_changes``), each
    figure with the audit list filtered to it."""
    if not can_view_audit(request):
        return {"show_recent_changes": False}
    since = figures_time(request) - timedelta(hours=24)
    # Changes of phones: sign-ins, operators and exports are in the audit log, not in this count.
    recent = audit_entries_visible_to(request.user).filter(created_at__gte=since).exclude(event__in=ACCESS_EVENTS)
    by_event = dict(recent.order_by().values_list("event").annotate(n=Count("*")))
    since_param = since.isoformat()
    phone_events = ",".join(sorted(set(AuditEvent.values) - set(ACCESS_EVENTS)))
    return {
        "show_recent_changes": True,
        "changes_24h": sum(by_event.values()),
        "created_24h": by_event.get(AuditEvent.PHONE_CREATION, 0),
        "changed_24h": by_event.get(AuditEvent.PHONE_CHANGE, 0),
        "audit_url": audit_list_url(created_at__gte=since_param, event__in=phone_events),
        "created_24h_url": audit_list_url(created_at__gte=since_param, event__exact=AuditEvent.PHONE_CREATION),
        "changed_24h_url": audit_list_url(created_at__gte=since_param, event__exact=AuditEvent.PHONE_CHANGE),
    }


def changes_chart_card(request: HttpRequest) -> dict[str, Any]:
    """Phones created and changed per day over the last 30 days in the operator's time zone
    (``changes_chart``), and the audit list of those entries (``changes_chart_url``)."""
    if not can_view_audit(request):
        return {}
    zone = timezone.get_current_timezone()
    now = figures_time(request)
    start, dates = chart_days(now, zone)
    visible = audit_entries_visible_to(request.user)
    rows = daily_rows(
        "audit-changes",
        # What the access gate let through, as SQL: operators who see the same entries share the
        # closed days' counts, and no one is served counts of entries it may not read.
        str(visible.query),
        now=now,
        zone=zone,
        dates=dates,
        count=lambda since, until: changes_per_day(visible, since=since, until=until, zone=zone),
    )
    counts = per_day(rows, dates, CHARTED_EVENTS)
    return {
        "changes_chart": bar_chart(
            dates,
            [
                (_("Created"), counts[AuditEvent.PHONE_CREATION], "var(--color-primary-600)"),
                (_("Changed"), counts[AuditEvent.PHONE_CHANGE], "var(--color-primary-300)"),
            ],
        ),
        "changes_30d": sum(map(sum, counts.values())),
        "changes_chart_url": audit_list_url(created_at__gte=start.isoformat(), event__in=",".join(CHARTED_EVENTS)),
    }


def _entry_rows(request: HttpRequest, entries: QuerySet[AuditEntry]) -> list[dict[str, Any]]:
    """The latest ``RECENT_ENTRIES`` of ``entries``, newest first, as the dashboard lists them: one
    statement (the phone's number by a join), a link to the phone only for roles that open it."""
    phones = can_view_phones(request)
    rows = []
    for entry in (
        entries.select_related("phone")
        .only("id", "event", "created_at", "operator_email", "phone_id", "phone__e164")
        .order_by("-id")[:RECENT_ENTRIES]
    ):
        rows.append(
            {
                "title": entry_title(entry),
                "when": entry.created_at,
                "operator": entry.operator_email,
                "entry_url": reverse("admin:audit_auditentry_change", args=[entry.pk]),
                "phone_url": reverse("admin:phones_phone_change", args=[entry.phone_id])
                if phones and entry.phone_id is not None
                else "",
            }
        )
    return rows


def recent_activity_card(request: HttpRequest) -> dict[str, Any]:
    """The latest entries the operator may see (``recent_activity``) and the whole list, and the
    operator's own latest changes to phones (``my_changes``) with the list of its entries."""
    if not can_view_audit(request):
        return {}
    visible = audit_entries_visible_to(request.user)
    # By id and email both: the id is who it is, the email is what the audit list filters by and
    # what its (operator_email, -id) index serves newest first.
    mine = visible.filter(operator_id=request.user.pk, operator_email=request.user.email, event__in=OWN_CHANGE_EVENTS)
    return {
        "recent_activity": _entry_rows(request, visible),
        "my_changes": _entry_rows(request, mine),
        "my_changes_url": audit_list_url(email=request.user.email),
    }
