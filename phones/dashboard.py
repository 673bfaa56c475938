"""The phones' dashboard cards (registered in ``PhonesConfig.ready``): totals by type and status,
and failed provider sync jobs."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse

from backoffice.dashboard import can_view_phones
from phones.models import Phone, PhoneType

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


def phone_totals_card(request: HttpRequest) -> dict[str, Any]:
    """Active and inactive phones, and the table by type (``show_phone_stats``)."""
    if not can_view_phones(request):
        return {"show_phone_stats": False}
    totals = _phone_totals()
    return {
        "show_phone_stats": True,
        "phone_totals": totals,
        "phone_type_table": {
            "headers": ["Type", "Active", "Inactive", "Total"],
            "rows": [
                [bucket["label"], bucket["active"], bucket["inactive"], bucket["active"] + bucket["inactive"]]
                for bucket in totals["by_type"]
            ],
        },
        "phones_url": reverse("admin:phones_phone_changelist"),
    }


def sync_failures_card(request: HttpRequest) -> dict[str, Any]:
    """Failed provider sync jobs, shown with the phone totals (``sync_failures``)."""
    if not can_view_phones(request):
        return {}
    return {"sync_failures": _sync_failures()}
