"""The phones' dashboard cards (registered in ``PhonesConfig.ready``): totals by type and status,
and provider links whose sync is failing now."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from backoffice.dashboard import can_view_phones
from phones.models import Phone, PhoneType, ProviderLink, SyncState

# The phone totals group the whole table: computed at most once a minute, not per page view.
PHONE_TOTALS_TTL = 60
PHONE_TOTALS_KEY = "dashboard:phone-totals"


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


def _sync_failures() -> int:
    """Links failing now: linked, and their last sync failed. Not failed jobs: a link's failed job
    stays failed after a re-sync succeeds, so counting jobs would count every failure ever. The
    count reads the link's ``sync_state`` index."""
    return ProviderLink.objects.filter(sync_state=SyncState.FAILED, linked=True).count()


def phone_totals_card(request: HttpRequest) -> dict[str, Any]:
    """Active and inactive phones, and the table by type (``show_phone_stats``)."""
    if not can_view_phones(request):
        return {"show_phone_stats": False}
    totals = _phone_totals()
    return {
        "show_phone_stats": True,
        "phone_totals": totals,
        "phone_type_table": {
            "headers": [_("Type"), _("Active"), _("Inactive"), _("Total")],
            "rows": [
                [bucket["label"], bucket["active"], bucket["inactive"], bucket["active"] + bucket["inactive"]]
                for bucket in totals["by_type"]
            ],
        },
        "phones_url": reverse("admin:phones_phone_changelist"),
    }


def sync_failures_card(request: HttpRequest) -> dict[str, Any]:
    """Provider links failing now (``sync_failures``), shown with the phone totals, and the link
    list filtered to them (``sync_failures_url``)."""
    if not can_view_phones(request):
        return {}
    query = urlencode({"sync_state__exact": SyncState.FAILED, "linked__exact": 1})
    return {
        "sync_failures": _sync_failures(),
        "sync_failures_url": reverse("admin:phones_providerlink_changelist") + "?" + query,
    }
