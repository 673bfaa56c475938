"""How the phone admin shows a phone's provider sync: a coloured state badge and a list column.

Reads the phones app's own ``ProviderLink`` rows; the link and job pages themselves, and the
re-sync action, are the provider sync's (``provider_sync.admin``).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from backoffice import roles
from phones.models import Phone, ProviderLink, SyncState

STATE_COLOURS = {
    SyncState.PENDING: "#b45309",
    SyncState.IN_PROGRESS: "#1d4ed8",
    SyncState.PROVISIONING: "#6d28d9",
    SyncState.SYNCED: "#15803d",
    SyncState.FAILED: "#b91c1c",
}


def sync_state_badge(link: ProviderLink | None) -> str:
    if link is None:
        return "-"
    label = link.get_sync_state_display()
    if link.sync_state == SyncState.FAILED and link.last_error:
        label = f"{label}: {link.last_error[:80]}"
    drift = " (drift)" if link.drift else ""
    return format_html(
        '<span style="color:{}" title="{}">{}{}</span>',
        STATE_COLOURS.get(link.sync_state, "inherit"),
        link.last_error,
        label,
        drift,
    )


@admin.display(description="provider sync")
def provider_sync_column(phone: Phone) -> str:
    """Phone list column. Use with ``list_select_related = ("provider_link",)`` in PhoneAdmin."""
    try:
        link = phone.provider_link
    except ProviderLink.DoesNotExist:
        return "-"
    return sync_state_badge(link)


class ResyncPermissionMixin:
    def has_resync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.RESYNC_PHONE)
