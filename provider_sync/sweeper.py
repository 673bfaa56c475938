"""The sweeper: publishes again the jobs whose delivery message was lost (broker down at commit,
a worker killed mid-job whose lease ran out). Duplicates are harmless: the claim decides."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from phones import outbox
from phones.models import HAS_DUE_TIME, SyncJob, SyncJobStatus

logger = logging.getLogger("phones.sync")


def due_jobs(*, limit: int = 1000) -> QuerySet[SyncJob, int]:
    """Ids of the due jobs nobody is working on, oldest first: pending or provisioning past the
    grace (their task was lost, or is on its way), or in progress with a lapsed lease (their
    worker died)."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.SYNC_SWEEP_GRACE_SECONDS)
    lease_free = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    return (
        SyncJob.objects.filter(HAS_DUE_TIME)  # both arms then read the index of due jobs
        .filter(
            Q(status__in=(SyncJobStatus.PENDING, SyncJobStatus.PROVISIONING), next_attempt_at__lte=grace) & lease_free
            | Q(status=SyncJobStatus.IN_PROGRESS, locked_until__lte=now)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def requeue_due(*, limit: int = 1000) -> int:
    """Publish the due jobs nobody is working on (oldest first); returns how many were published.
    Stops at the first failed publish: the broker is still down, the next sweep tries again."""
    queued = outbox.queue_deliveries(list(due_jobs(limit=limit)))
    if queued:
        logger.info("sweeper re-queued %s sync job(s)", queued)
    return queued
