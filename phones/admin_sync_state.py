"""How the phone admin shows a phone's provider sync: a coloured state badge, a list column, and
the live block of a phone's page and a link's page.

Reads the phones app's own ``ProviderLink`` rows; the words come from ``phones.sync_status``. The
link and job pages themselves, and the re-sync action, are the provider sync's
(``provider_sync.admin``).

The live block (``sync_state_block``) is the same HTML on the page and from its fragment view
(``PhoneAdmin.sync_state_view``): while the sync is still moving it carries htmx's polling
attributes (htmx is loaded by the admin theme on every page; attributes, no inline script, so the
CSP is unchanged) and replaces itself with the fragment's answer; a settled state's block carries
none, so the polling ends with the answer that first shows it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice import roles
from backoffice.admin_base import NOTHING
from phones.models import OPEN_JOB_STATUSES, Phone, ProviderLink, SyncJobStatus, SyncState
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

# The fragment view that answers the block's polling (``PhoneAdmin.sync_state_view``), by phone.
SYNC_STATE_URL_NAME = "admin:phones_phone_sync_state"
# A link's own state while it has no job to read: these still move.
_MOVING_LINK_STATES = (SyncState.PENDING, SyncState.IN_PROGRESS, SyncState.PROVISIONING)


def sync_status_of(link: ProviderLink, *, read_job: bool = True) -> SyncStatus:
    """The link's sync status, with its job when prefetched (``prefetch_latest_job``), else read
    in one statement and kept on the link (``read_job``), or left out (the link's fields only)."""
    if read_job and not hasattr(link, LATEST_JOB_ATTR):
        job = latest_job(link)
        setattr(link, LATEST_JOB_ATTR, [job] if job else [])
    return describe(link, latest_job(link) if hasattr(link, LATEST_JOB_ATTR) else None)


def sync_status_badge(link: ProviderLink, status: SyncStatus) -> str:
    """The status in words (capitalised: a list cell), coloured by its state; the provider's whole
    message as its title."""
    drift = " " + gettext("(drift)") if link.drift else ""
    return format_html(
        '<span style="color:{}" title="{}">{}{}</span>',
        STATE_COLOURS.get(status.state, "inherit"),
        status.last_error or status.text,
        capfirst(status.text),
        drift,
    )


def sync_is_moving(link: ProviderLink | None) -> bool:
    """True while the link's sync may still change by itself: its relevant job is open (pending,
    retrying, in progress, provisioning; a release after an unlink too), or, without a job read,
    the link says pending, in progress or provisioning. Needs ``sync_status_of`` first."""
    if link is None:
        return False
    job = latest_job(link) if hasattr(link, LATEST_JOB_ATTR) else None
    if job is not None and job.status != SyncJobStatus.SUPERSEDED:
        return job.status in OPEN_JOB_STATUSES
    return link.linked and link.sync_state in _MOVING_LINK_STATES


def sync_state_block(link: ProviderLink | None, phone_id: int) -> SafeString:
    """The live sync state of ``phone_id``'s link (None: not linked): the state in a word, then in
    words, and while it moves the polling attributes that ask the fragment view for the next one.
    Reads the link's relevant job when not read yet (one statement)."""
    status = sync_status_of(link) if link is not None else None
    moving = sync_is_moving(link)
    state = status.state if status is not None else ""
    context = {
        "status": status,
        "colour": STATE_COLOURS.get(state, "inherit"),
        "drift": bool(link is not None and link.drift),
        "moving": moving,
        "url": reverse(SYNC_STATE_URL_NAME, args=[phone_id]),
        "poll_seconds": f"{settings.SYNC_STATE_POLL_SECONDS:g}",
    }
    return SafeString(render_to_string("admin/phones/sync_state_block.html", context))


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
        return NOTHING
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
