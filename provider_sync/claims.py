"""Claiming sync jobs: which are due, which are first in line for their link, and the claim
(token and lease) a worker takes on a batch of them. See ``provider_sync.delivery`` for the
whole path."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, Exists, F, OuterRef, PositiveIntegerField, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from phones.changes import changes, claim_due_jobs, touch_links
from phones.models import OPEN_JOB_STATUSES, ProviderLink, SyncJob, SyncJobStatus, SyncState
from provider_sync.adapters import ProviderError, PushResult

logger = logging.getLogger("phones.sync")

# A task that arrives a little before its countdown (clock granularity) still counts as due.
DUE_TOLERANCE = timedelta(seconds=0.5)


@dataclass(frozen=True)
class Claim:
    job_id: int
    token: uuid.UUID
    mode: str  # "push" or "poll"
    provider: str
    number: str
    reason: str
    desired: dict[str, Any]
    previous: dict[str, Any] | None
    try_number: int
    phone_id: int
    link_id: int
    lease_until: datetime  # what the claim wrote to ``locked_until``


Outcome = tuple[Claim, "PushResult | None", "ProviderError | None"]


def claimable(now: Any) -> Q:
    """Jobs a worker may take now: due, or in progress with a lease that ran out (worker died)."""
    lease_free = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    # In progress only once due, and nothing moves the due time of a job in progress: every
    # claimable job is due (said once for all, so the index of due jobs serves the query).
    return Q(status__in=OPEN_JOB_STATUSES, next_attempt_at__lte=now + DUE_TOLERANCE) & lease_free


def _blocked(now: Any) -> Q:
    """Jobs of one link go in order, and so do jobs of one provider number whatever their link
    (a number released by one link may be linked anew by another: the release goes first); and
    none while another claim of the link or the number holds a lease (is out at the provider).

    Four probes, each answered by a small partial index (open jobs; jobs with a lease, by link and
    by number), so the check costs the same however long the jobs' history grows.
    """
    older_open = SyncJob.objects.filter(
        link_id=OuterRef("link_id"), status__in=OPEN_JOB_STATUSES, pk__lt=OuterRef("pk")
    )
    out = SyncJob.objects.filter(link_id=OuterRef("link_id"), locked_until__gt=now).exclude(pk=OuterRef("pk"))
    same_number = {"provider": OuterRef("provider"), "number": OuterRef("number")}
    older_open_number = SyncJob.objects.filter(**same_number, status__in=OPEN_JOB_STATUSES, pk__lt=OuterRef("pk"))
    out_number = SyncJob.objects.filter(**same_number, locked_until__gt=now).exclude(pk=OuterRef("pk"))
    return Q(Exists(older_open)) | Q(Exists(out)) | Q(Exists(older_open_number)) | Q(Exists(out_number))


def newer_job() -> Exists:
    """The link shows the state of its newest job only (older ones are releases or history)."""
    return Exists(SyncJob.objects.filter(link_id=OuterRef("link_id"), pk__gt=OuterRef("pk")))


def claim_jobs(job_id: int, *, limit: int = 1, among: Sequence[int] | None = None) -> list[Claim]:
    """Claim due jobs for this worker in one short transaction; ``[]`` when there is nothing to do.

    Each job gets the claim's token and a lease of ``SYNC_LEASE_SECONDS``, renewed before every
    provider call and while the batch runs (``provider_sync.delivery``); a job whose lease lapsed
    may be claimed again, and the older claim then records nothing but its attempts.

    ``limit=1`` claims ``job_id`` only (``[]`` when it is not due, not free or final). A larger
    limit claims the oldest due jobs (``job_id`` among them when it is still free and in line):
    a task that finds a backlog takes a batch; with ``among`` (the jobs a task was sent for), only
    while one of them is claimable itself. Rows are taken with ``FOR UPDATE SKIP LOCKED``
    and never waited for, so claiming holds no lock a service could wait on in a cycle.

    On PostgreSQL the claim is one statement (``phones.changes.claim_due_jobs``); elsewhere the
    plain way below, which ``test_claims`` also runs on PostgreSQL to prove the two equal.
    """
    now = timezone.now()
    token = uuid.uuid4()
    lease_until = now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    if connection.vendor == "postgresql":
        rows = claim_due_jobs(
            job_id=job_id,
            limit=limit,
            now=now,
            due_by=now + DUE_TOLERANCE,
            lease_until=lease_until,
            token=token,
            among=among,
        )
    else:
        rows = _claim_plain(job_id, limit=limit, now=now, lease_until=lease_until, token=token, among=among)
    return [_claim(row, token, lease_until) for row in rows]


def _claim(row: dict[str, Any], token: uuid.UUID, lease_until: datetime) -> Claim:
    """A claimed job as the claim statement returned it (``phones.claim_statement.COLUMNS``)."""
    return Claim(
        job_id=row["id"],
        token=token,
        mode="poll" if row["status"] == SyncJobStatus.PROVISIONING else "push",
        provider=row["provider"],
        number=row["number"],
        reason=row["reason"],
        desired=dict(row["desired"]),
        previous=row["previous"],
        try_number=row["attempts"],  # as the claim counted it: this push's attempt, or the polls' push
        phone_id=row["phone_id"],
        link_id=row["link_id"],
        lease_until=lease_until,
    )


def claim_from_message(message: dict[str, Any]) -> Claim:
    """The claim a change took on its job before committing, as its message carries it
    (``phones.outbox.claimed_message``)."""
    return _claim(message["job"], uuid.UUID(hex=message["token"]), datetime.fromisoformat(message["lease_until"]))


def _claim_plain(
    job_id: int,
    *,
    limit: int,
    now: datetime,
    lease_until: datetime,
    token: uuid.UUID,
    among: Sequence[int] | None = None,
) -> list[dict]:
    """The claim through the ORM: the jobs in one transaction, then what their links show (lock
    order is phone -> link -> job, so links are touched after the jobs' commit). Rows as
    ``phones.claim_statement.COLUMNS``, in claim order."""
    if among is not None and limit > 1 and not SyncJob.objects.filter(claimable(now), pk__in=among).exists():
        return []
    candidates = SyncJob.objects.select_for_update(skip_locked=True, of=("self",)).filter(claimable(now))
    candidates = candidates.exclude(_blocked(now)).annotate(newer=newer_job())
    # A batch takes the oldest due first (FIFO), whichever task finds them.
    batch = candidates.filter(pk=job_id) if limit <= 1 else candidates.order_by("next_attempt_at", "pk")[:limit]
    with changes() as work:
        # Jobs only, SKIP LOCKED: the claim never waits, so it cannot join a lock cycle.
        jobs = work.lock(batch)
        if not jobs:
            return []
        poll, count = Q(status=SyncJobStatus.PROVISIONING), PositiveIntegerField()
        work.touch_jobs(
            [job.pk for job in jobs],
            status=Case(When(poll, then=Value(SyncJobStatus.PROVISIONING)), default=Value(SyncJobStatus.IN_PROGRESS)),
            attempts=Case(When(poll, then=F("attempts")), default=F("attempts") + 1, output_field=count),
            polls=Case(When(poll, then=F("polls") + 1), default=F("polls"), output_field=count),
            locked_until=lease_until,
            claim_token=token,
            first_claimed_at=Coalesce(F("first_claimed_at"), Value(now)),
            updated_at=now,
        )
    rows = []
    for job in jobs:
        polling = job.status == SyncJobStatus.PROVISIONING
        rows.append(
            {
                "id": job.pk,
                "status": SyncJobStatus.PROVISIONING if polling else SyncJobStatus.IN_PROGRESS,
                "provider": job.provider,
                "number": job.number,
                "reason": job.reason,
                "desired": job.desired,
                "previous": job.previous,
                "attempts": job.attempts + (not polling),
                "phone_id": job.phone_id,
                "link_id": job.link_id,
                "newer": job.newer,
            }
        )
    # Shown on the link; outside the claim's transaction (lock order is phone -> link -> job) and
    # only while no newer job waits (a service that just queued one set the link to pending).
    pushing = [job.link_id for job in jobs if job.status != SyncJobStatus.PROVISIONING and not job.newer]
    waiting = Exists(SyncJob.objects.filter(link_id=OuterRef("pk"), status=SyncJobStatus.PENDING))
    touch_links(
        ProviderLink.objects.filter(pk__in=[job.link_id for job in jobs]),
        last_attempt_at=now,
        updated_at=now,
        sync_state=Case(When(Q(pk__in=pushing) & ~waiting, then=Value(SyncState.IN_PROGRESS)), default=F("sync_state")),
    )
    return rows
