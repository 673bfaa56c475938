"""The backoffice home and the sidebar, both shaped by the operator's permissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
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


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    for card in dashboard_cards():
        context.update(card(request))
    return context
