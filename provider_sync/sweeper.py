"""The sweeper: publishes again the jobs whose delivery message was lost (broker down at commit,
a worker killed mid-job whose lease ran out). Duplicates are harmless: the claim decides."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from phones import outbox
from phones.models import SyncJob, SyncJobStatus

logger = logging.getLogger("phones.sync")


def requeue_due(*, limit: int = 1000) -> int:
    """Publish the due jobs nobody is working on (oldest first); returns how many were published.
    Stops at the first failed publish: the broker is still down, the next sweep tries again."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.SYNC_SWEEP_GRACE_SECONDS)
    lease_free = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    due = (
        SyncJob.objects.filter(
            Q(status__in=(SyncJobStatus.PENDING, SyncJobStatus.PROVISIONING), next_attempt_at__lte=grace) & lease_free
            | Q(status=SyncJobStatus.IN_PROGRESS, locked_until__lte=now)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    queued = outbox.queue_deliveries(list(due))
    if queued:
        logger.info("sweeper re-queued %s sync job(s)", queued)
    return queued
