"""Reconciliation: read each linked number at its provider and record drift on the link.

Never overwrites either side: an operator decides (re-sync pushes ours; editing the link adopts
theirs). Links with an open job are skipped: their state is in flux.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from phones.changes import changes
from phones.models import OPEN_JOB_STATUSES, Provider, ProviderLink, SyncJob
from phones.outbox import SERVICE_FIELDS, desired_settings
from provider_sync.adapters import ProviderError, RemoteNumber
from provider_sync.checks import settings_fields
from provider_sync.clients import build_adapter

logger = logging.getLogger("phones.sync")

DRIFT_FIELDS = ["drift", "drift_detected_at", "drift_checked_at"]


def compare_settings(provider: str, desired: dict[str, Any], remote: RemoteNumber) -> dict[str, Any]:
    """Fields where the provider disagrees with what we hold. Free-text values we leave to the
    provider (None) are not compared; service links are (None means "must not be linked")."""
    theirs = dict(vars(remote.settings))
    always = SERVICE_FIELDS[Provider(provider)]
    drift = {}
    for key in settings_fields(provider):
        ours = desired.get(key) or None
        value = theirs.get(key) or None
        if key not in always and ours is None:
            continue
        if key == "voice_type" and not desired.get("voice_target_id") and not theirs.get("voice_target_id"):
            continue
        if ours != value:
            drift[key] = {"ours": ours, "theirs": value}
    return drift


def reconcile_links(*, link_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Check every linked number without an open job (or those of ``link_ids``); the provider
    read runs outside any transaction, the drift is written under the link's lock."""
    open_jobs = SyncJob.objects.filter(link=OuterRef("pk"), status__in=OPEN_JOB_STATUSES)
    links = ProviderLink.objects.filter(linked=True).exclude(Exists(open_jobs)).select_related("phone")
    if link_ids is not None:
        links = links.filter(pk__in=list(link_ids))
    counts = {"checked": 0, "drift": 0, "errors": 0}
    for link in links.iterator(chunk_size=200):
        adapter = build_adapter(link.provider)
        desired = desired_settings(link, link.phone)
        try:
            remote = adapter.fetch(link.number_e164)
        except ProviderError as error:
            counts["errors"] += 1
            logger.warning("reconcile: cannot read %s %s: %s", link.provider, link.number_e164, error)
            drift = {"_error": {"ours": None, "theirs": str(error)}}
        else:
            if remote.provisioning:
                continue
            drift = compare_settings(link.provider, desired, remote)
        counts["checked"] += 1
        now = timezone.now()
        with changes() as work:
            # Lock order phone, link, job: the link alone here (its phone is not written).
            (fresh,) = work.lock(ProviderLink.objects.select_for_update().filter(pk=link.pk))
            if fresh.settings != link.settings or fresh.jobs.filter(status__in=OPEN_JOB_STATUSES).exists():
                continue  # changed while we read: the coming sync decides
            if drift:
                counts["drift"] += 1
                if fresh.drift != drift:
                    logger.warning("provider drift on %s %s: %s", fresh.provider, fresh.number_e164, drift)
                fresh.drift_detected_at = fresh.drift_detected_at if fresh.drift else now
            else:
                fresh.drift_detected_at = None
            fresh.drift = drift
            fresh.drift_checked_at = now
            work.save_link(fresh, DRIFT_FIELDS)
    return counts
