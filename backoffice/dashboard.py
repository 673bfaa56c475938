"""The backoffice home and the sidebar, both shaped by the operator's permissions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from backoffice import roles


def can_view_phones(request: HttpRequest) -> bool:
    return request.user.has_perm(roles.VIEW_PHONE)


def can_add_phones(request: HttpRequest) -> bool:
    return request.user.has_perm(roles.ADD_PHONE)


def can_view_audit(request: HttpRequest) -> bool:
    return request.user.has_perm(roles.VIEW_AUDIT) or request.user.has_perm(roles.VIEW_OWN_AUDIT)


def can_manage_operators(request: HttpRequest) -> bool:
    return request.user.has_perm("backoffice.view_user")


def can_view_roles(request: HttpRequest) -> bool:
    return request.user.has_perm("auth.view_group")


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """Only entries the operator may open; an entry it may not use is not shown at all."""
    items = [
        (_("Dashboard"), "dashboard", reverse("admin:index"), None),
        (_("Phones"), "call", reverse("admin:phones_phone_changelist"), can_view_phones),
        (_("Add phone"), "add_call", reverse("admin:phones_phone_add"), can_add_phones),
        # Provider sync in plain sight: its pages open with the phones (``provider_sync.admin``).
        (_("Provider links"), "sync_alt", reverse("admin:phones_providerlink_changelist"), can_view_phones),
        (_("Sync jobs"), "sync", reverse("admin:phones_syncjob_changelist"), can_view_phones),
        (_("Audit log"), "history", reverse("admin:audit_auditentry_changelist"), can_view_audit),
        (_("Operators"), "badge", reverse("admin:backoffice_user_changelist"), can_manage_operators),
        (_("Roles"), "shield_person", reverse("admin:auth_group_changelist"), can_view_roles),
    ]
    allowed = [
        {"title": title, "icon": icon, "link": link, "permission": check}
        for title, icon, link, check in items
        if check is None or check(request)
    ]
    return [{"title": _("Backoffice"), "separator": False, "collapsible": False, "items": allowed}]


# --- Dashboard cards ---------------------------------------------------------------------------
# The home page shows what the installed features contribute: each registers its cards from its
# AppConfig.ready() (``phones.dashboard``, ``audit.dashboard``). A card is a callable
# ``(request) -> dict`` whose items go into the template's context (``templates/admin/index.html``);
# cards run in ``order``, then in the order they were registered.

DashboardCard = Callable[[HttpRequest], dict[str, Any]]
_cards: list[tuple[int, DashboardCard]] = []


def register_card(card: DashboardCard, *, order: int = 100) -> DashboardCard:
    """Add ``card`` to the dashboard (once: registering it again changes nothing)."""
    if all(registered is not card for _, registered in _cards):
        _cards.append((order, card))
        _cards.sort(key=lambda item: item[0])  # stable: equal orders keep their registration order
    return card


def dashboard_cards() -> list[DashboardCard]:
    return [card for _, card in _cards]


def figures_time(request: HttpRequest) -> datetime:
    """The one instant every card of this page counts up to (kept on the request), so that the
    page's "Figures taken at" is true of all of them."""
    taken = getattr(request, "_dashboard_figures_time", None)
    if taken is None:
        taken = timezone.now()
        request._dashboard_figures_time = taken  # type: ignore[attr-defined]
    return taken


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    taken = figures_time(request)
    for card in dashboard_cards():
        context.update(card(request))
    zone = timezone.get_current_timezone()
    context["figures_taken_at"] = timezone.localtime(taken, zone).strftime("%H:%M:%S")
    context["figures_time_zone"] = str(zone)
    context["stacked_bar_options"] = STACKED_BAR_OPTIONS
    return context


# --- Charts --------------------------------------------------------------------------------------
# Unfold renders a ``<canvas class="chart">`` from its ``data-value`` / ``data-options`` JSON with
# the Chart.js it serves itself (``unfold/js/app.js``): no inline script, nothing from elsewhere,
# so the CSP stays as strict as it is.

CHART_DAYS = 30


def chart_days(now: datetime, zone: tzinfo, days: int = CHART_DAYS) -> tuple[datetime, list[date]]:
    """The last ``days`` calendar days in ``zone`` up to ``now`` (today included), and the instant
    the first of them began there: the lower bound of the charts' indexed range (pure)."""
    today = timezone.localtime(now, zone).date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    return datetime.combine(dates[0], time.min, tzinfo=zone), dates


def per_day(
    rows: Sequence[tuple[date, str, int]], dates: Sequence[date], series: Sequence[str]
) -> dict[str, list[int]]:
    """``(day, series, count)`` rows (a GROUP BY's) as one list of counts per series, a zero for
    every day without a row (pure)."""
    index = {day: position for position, day in enumerate(dates)}
    counts = {name: [0] * len(dates) for name in series}
    for day, name, count in rows:
        if name in counts and day in index:
            counts[name][index[day]] += count
    return counts


# Days that are over do not change: audit entries and sync job outcomes are stamped with the time
# they are written, never backdated, so a day's count is final once no transaction that began in
# it can still commit (a few minutes' grace). Those days are counted once and kept until the next
# day; the day still open (and, in its first minutes, the one before) is counted on every view.
CLOSED_DAY_GRACE = timedelta(minutes=5)
CLOSED_DAYS_TTL = 25 * 3600  # the key names the days it holds: a new day is a new key anyway

DayRows = list[tuple[date, str, int]]


def daily_rows(
    name: str,
    scope: str,
    *,
    now: datetime,
    zone: tzinfo,
    dates: Sequence[date],
    count: Callable[[datetime, datetime | None], DayRows],
) -> DayRows:
    """``(day, series, count)`` rows for ``dates``: ``count(since, until)`` (a GROUP BY over an
    indexed range, ``until`` None for "up to now") runs for the open days on every call and for
    the closed ones once, kept in the cache under ``name``, ``scope`` (who may see what was
    counted: two scopes never share a key), the zone and the days."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=zone)

    first_open = len(dates) - 1
    if now - midnight(dates[-1]) < CLOSED_DAY_GRACE:
        first_open -= 1
    live_from = midnight(dates[first_open])
    digest = hashlib.sha256(scope.encode()).hexdigest()[:32]
    key = f"dashboard:days:{name}:{digest}:{zone}:{dates[0].isoformat()}:{dates[first_open].isoformat()}"
    closed = cache.get(key)
    if closed is None:
        closed = count(midnight(dates[0]), live_from)
        cache.set(key, closed, CLOSED_DAYS_TTL)
    return [*closed, *count(live_from, None)]


# Stacked bars with a legend; unfold's defaults (thin overlapping bars, no legend) suit one series.
STACKED_BAR_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "maxBarThickness": 14,
        "plugins": {"legend": {"display": True, "align": "end", "labels": {"boxWidth": 10, "boxHeight": 10}}},
        "scales": {
            "x": {"stacked": True, "grid": {"display": False}, "ticks": {"maxTicksLimit": 8, "maxRotation": 0}},
            "y": {"stacked": True, "beginAtZero": True, "ticks": {"precision": 0}},
        },
    }
)


def bar_chart(dates: Sequence[date], datasets: Sequence[tuple[Any, list[int], str]]) -> str:
    """The JSON of unfold's bar chart component: ``(label, counts, colour)`` per series (pure)."""
    return json.dumps(
        {
            "labels": [formats.date_format(day, "MONTH_DAY_FORMAT") for day in dates],
            "datasets": [
                {"label": str(label), "data": counts, "backgroundColor": colour} for label, counts, colour in datasets
            ],
        }
    )
