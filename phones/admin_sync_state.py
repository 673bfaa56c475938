"""How the phone admin shows a phone's provider sync: a coloured state badge and a list column.

Reads the phones app's own ``ProviderLink`` rows; the words come from ``phones.sync_status``. The
link and job pages themselves, and the re-sync action, are the provider sync's
(``provider_sync.admin``).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice import roles
from phones.models import Phone, ProviderLink, SyncState
from phones.sync_status import LATEST_JOB_ATTR, RETRYING, UNLINKED, SyncStatus, describe, latest_job

STATE_COLOURS = {
    SyncState.PENDING: "#b45309",
    RETRYING: "#c2410c",
    SyncState.IN_PROGRESS: "#1d4ed8",
    SyncState.PROVISIONING: "#6d28d9",
    SyncState.SYNCED: "#15803d",
    SyncState.FAILED: "#b91c1c",
    UNLINKED: "#6b7280",
}


def sync_status_of(link: ProviderLink, *, read_job: bool = True) -> SyncStatus:
    """The link's sync status, with its job when prefetched (``prefetch_latest_job``), else read
    in one statement and kept on the link (``read_job``), or left out (the link's fields only)."""
    if read_job and not hasattr(link, LATEST_JOB_ATTR):
        job = latest_job(link)
        setattr(link, LATEST_JOB_ATTR, [job] if job else [])
    return describe(link, latest_job(link) if hasattr(link, LATEST_JOB_ATTR) else None)


def sync_status_badge(link: ProviderLink, status: SyncStatus) -> str:
    """The status in words, coloured by its state; the provider's whole message as its title."""
    drift = " " + gettext("(drift)") if link.drift else ""
    return format_html(
        '<span style="color:{}" title="{}">{}{}</span>',
        STATE_COLOURS.get(status.state, "inherit"),
        status.last_error or status.text,
        status.text,
        drift,
    )


def sync_state_badge(link: ProviderLink | None) -> str:
    """The phone page's provider field: the sync status in words (reads the link's job)."""
    if link is None:
        return "-"
    return sync_status_badge(link, sync_status_of(link))


@admin.display(description=_("provider sync"))
def provider_sync_column(phone: Phone) -> str:
    """Phone list column: the state as a badge, the status in words as its title.

    Use with ``list_select_related = ("provider_link",)`` in PhoneAdmin: no query per row (the
    words then come from the link alone, or with its job when the list prefetches
    ``prefetch_latest_job("provider_link__jobs")``).
    """
    try:
        link = phone.provider_link
    except ProviderLink.DoesNotExist:
        return "-"
    status = sync_status_of(link, read_job=False)
    label = link.get_sync_state_display() if link.linked else gettext("Unlinked")
    if link.linked and link.sync_state == SyncState.FAILED and link.last_error:
        label = f"{label}: {link.last_error[:80]}"
    drift = " " + gettext("(drift)") if link.drift else ""
    return format_html(
        '<span style="color:{}" title="{}">{}{}</span>',
        STATE_COLOURS.get(link.sync_state if link.linked else UNLINKED, "inherit"),
        status.text,
        label,
        drift,
    )


class ResyncPermissionMixin:
    def has_resync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.RESYNC_PHONE)
