"""The backoffice home and the sidebar, both shaped by the operator's permissions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.apps import apps
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from audit.selectors import audit_entries_visible_to
from backoffice import roles
from phones.models import Phone, PhoneType

# The phone totals group the whole table: computed at most once a minute, not per page view.
PHONE_TOTALS_TTL = 60
PHONE_TOTALS_KEY = "dashboard:phone-totals"


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
        ("Dashboard", "dashboard", reverse("admin:index"), None),
        ("Phones", "call", reverse("admin:phones_phone_changelist"), can_view_phones),
        ("Add phone", "add_call", reverse("admin:phones_phone_add"), can_add_phones),
        ("Audit log", "history", reverse("admin:audit_auditentry_changelist"), can_view_audit),
        ("Operators", "badge", reverse("admin:backoffice_user_changelist"), can_manage_operators),
        ("Roles", "shield_person", reverse("admin:auth_group_changelist"), can_view_roles),
    ]
    allowed = [
        {"title": title, "icon": icon, "link": link, "permission": check}
        for title, icon, link, check in items
        if check is None or check(request)
    ]
    return [{"title": "Backoffice", "separator": False, "collapsible": False, "items": allowed}]


def _phone_totals() -> dict[str, Any]:
    totals = cache.get(PHONE_TOTALS_KEY)
    if totals is None:
        rows = Phone.objects.order_by().values("type", "active").annotate(n=Count("id"))
        by_type = {value: {"label": label, "active": 0, "inactive": 0} for value, label in PhoneType.choices}
        for row in rows:
            bucket = by_type.setdefault(row["type"], {"label": row["type"], "active": 0, "inactive": 0})
            bucket["active" if row["active"] else "inactive"] += row["n"]
        totals = {
            "by_type": list(by_type.values()),
            "active": sum(bucket["active"] for bucket in by_type.values()),
            "inactive": sum(bucket["inactive"] for bucket in by_type.values()),
        }
        cache.set(PHONE_TOTALS_KEY, totals, PHONE_TOTALS_TTL)
    return totals


def _sync_failures() -> int | None:
    """Failed provider sync jobs, once provider sync exists; None until then."""
    for model_name in ("SyncJob", "ProviderSyncJob"):
        try:
            model = apps.get_model("phones", model_name)
        except LookupError:
            continue
        field_names = {field.name for field in model._meta.get_fields()}
        if "status" in field_names:
            return model.objects.filter(status="failed").count()
    return None


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    context["show_phone_stats"] = can_view_phones(request)
    if context["show_phone_stats"]:
        totals = _phone_totals()
        context["phone_totals"] = totals
        context["phone_type_table"] = {
            "headers": ["Type", "Active", "Inactive", "Total"],
            "rows": [
                [bucket["label"], bucket["active"], bucket["inactive"], bucket["active"] + bucket["inactive"]]
                for bucket in totals["by_type"]
            ],
        }
        context["phones_url"] = reverse("admin:phones_phone_changelist")
        context["sync_failures"] = _sync_failures()
    context["show_recent_changes"] = can_view_audit(request)
    if context["show_recent_changes"]:
        since = timezone.now() - timedelta(hours=24)
        recent = audit_entries_visible_to(request.user).filter(created_at__gte=since)
        by_event = dict(recent.order_by().values_list("event").annotate(n=Count("id")))
        context["changes_24h"] = sum(by_event.values())
        context["created_24h"] = by_event.get("phone_creation", 0)
        context["changed_24h"] = by_event.get("phone_change", 0)
        context["audit_url"] = (
            reverse("admin:audit_auditentry_changelist") + "?created_at__gte=" + since.date().isoformat()
        )
    return context
