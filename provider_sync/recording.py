"""Recording a pushed batch: each job's next state, its link's displayed state, its HTTP attempts
and the outcome audit entry, in one short transaction through the phones unit of work."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from audit.models import AuditEvent, Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from backoffice.db import CompiledIdSelect
from phones import outbox
from phones.changes import changes
from phones.models import OPEN_JOB_STATUSES, ProviderLink, SyncAttempt, SyncJob, SyncJobStatus, SyncReason, SyncState
from phones.objects import job_object
from provider_sync.adapters import Attempt, CallWithdrawn, PermanentProviderError, ProviderError, PushResult
from provider_sync.claims import Claim, Outcome, newer_job

logger = logging.getLogger("phones.sync")

JOB_RECORD_FIELDS = [
    "status",
    "locked_until",
    "claim_token",
    "last_status",
    "last_error",
    "last_error_codes",
    "finished_at",
    "updated_at",
]


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, capped; a provider's Retry-After always wins when longer."""
    base = settings.SYNC_BACKOFF_BASE_SECONDS
    ceiling = min(settings.SYNC_BACKOFF_MAX_SECONDS, base * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # "equal jitter": spread, but never ~0
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def poll_delay(polls: int) -> float:
    return min(settings.SYNC_BACKOFF_MAX_SECONDS, settings.SYNC_PROVISIONING_POLL_SECONDS * 1.5 ** max(0, polls - 1))


def _attempt_rows(claim: Claim, attempts: Iterable[Attempt]) -> list[SyncAttempt]:
    return [
        SyncAttempt(
            job_id=claim.job_id,
            try_number=claim.try_number,
            kind=claim.mode,
            method=a.method,
            url=a.url[:500],
            request_headers=a.request_headers,
            request_body=a.request_body,
            response_status=a.status_code,
            response_body=a.response_body,
            duration_ms=round(a.duration_ms, 1),
            error=a.error or "",
            started_at=a.started_at,
        )
        for a in attempts
    ]


def _nothing_to_release(job: SyncJob, error: PermanentProviderError) -> bool:
    """Releasing a number the provider no longer has is done already."""
    return job.reason in (SyncReason.RELEASE, SyncReason.UNLINK) and error.status == 404


def _provisioning_overdue(job: SyncJob, now: Any) -> bool:
    started = job.provisioning_started_at
    return started is not None and (now - started).total_seconds() > settings.SYNC_PROVISIONING_TIMEOUT_SECONDS


def apply_outcome(
    job: SyncJob, claim: Claim, result: PushResult | None, error: ProviderError | None, now: Any
) -> str | None:
    """Move a claimed job to its next state (in memory); returns the audit event, if any."""
    if job.status == SyncJobStatus.SUPERSEDED:
        return None  # a newer job carries the state now; this one only reports its attempts
    if error is not None and isinstance(error, PermanentProviderError) and _nothing_to_release(job, error):
        job.status = SyncJobStatus.SYNCED
        return AuditEvent.PHONE_SYNC_SUCCEEDED
    if error is not None:
        job.last_status, job.last_error, job.last_error_codes = error.status, error.message, list(error.codes)
        retry_left = job.attempts < settings.SYNC_MAX_ATTEMPTS
        if claim.mode == "poll" and error.retryable and not _provisioning_overdue(job, now):
            delay = retry_delay(job.polls, getattr(error, "retry_after", None))
            job.next_attempt_at = now + timedelta(seconds=delay)
            return None
        if claim.mode == "push" and error.retryable and retry_left:
            job.status = SyncJobStatus.PENDING
            delay = retry_delay(job.attempts, getattr(error, "retry_after", None))
            job.next_attempt_at = now + timedelta(seconds=delay)
            return None
        job.status = SyncJobStatus.FAILED
        return AuditEvent.PHONE_PROVISIONING_FINISHED if claim.mode == "poll" else AuditEvent.PHONE_SYNC_FAILED
    if result is not None and result.provisioning:
        if _provisioning_overdue(job, now):
            job.status = SyncJobStatus.FAILED
            job.last_error = "scheduled provisioning did not finish in time"
            job.last_error_codes = ["PROVISIONING_TIMEOUT"]
            return AuditEvent.PHONE_PROVISIONING_FINISHED
        job.status = SyncJobStatus.PROVISIONING
        job.provisioning_started_at = job.provisioning_started_at or now
        job.next_attempt_at = now + timedelta(seconds=poll_delay(job.polls + 1))
        job.last_status, job.last_error, job.last_error_codes = None, "", []
        return None
    job.status = SyncJobStatus.SYNCED
    job.last_status, job.last_error, job.last_error_codes = None, "", []
    return AuditEvent.PHONE_PROVISIONING_FINISHED if claim.mode == "poll" else AuditEvent.PHONE_SYNC_SUCCEEDED


def show_on_link(link: ProviderLink, job: SyncJob, now: Any) -> list[str]:
    """Show ``job``'s state on its link (in memory); returns the fields that changed."""
    state = {
        SyncJobStatus.PENDING: SyncState.PENDING,
        SyncJobStatus.IN_PROGRESS: SyncState.IN_PROGRESS,
        SyncJobStatus.PROVISIONING: SyncState.PROVISIONING,
        SyncJobStatus.SYNCED: SyncState.SYNCED,
        SyncJobStatus.FAILED: SyncState.FAILED,
    }[SyncJobStatus(job.status)]
    link.sync_state = state
    link.last_status, link.last_error, link.last_error_codes = job.last_status, job.last_error, job.last_error_codes
    link.updated_at = now
    update = ["sync_state", "last_status", "last_error", "last_error_codes", "updated_at"]
    if state == SyncState.SYNCED and job.provider == link.provider and job.number == link.number_e164:
        link.last_synced_at = now
        link.pushed_settings = job.desired
        # What we hold and what the provider holds agree again.
        link.drift, link.drift_detected_at = {}, None
        update += ["last_synced_at", "pushed_settings", "drift", "drift_detected_at"]
    return update


def job_actor(job: SyncJob) -> Actor:
    """The operator whose change caused ``job``, as the job snapshot them."""
    return Actor.snapshot(id=job.operator_id, email=job.operator_email, roles=job.operator_roles)


def _jobs_for_record(jobs: QuerySet[SyncJob]) -> QuerySet[SyncJob]:
    """The jobs locked (in id order) with whether a newer job of their link exists and the next
    open job of their link (queued when this one ends)."""
    waiting = (
        SyncJob.objects.filter(link_id=OuterRef("link_id"), status__in=OPEN_JOB_STATUSES)
        .exclude(pk=OuterRef("pk"))
        .order_by("pk")
        .values("pk")[:1]
    )
    return jobs.select_for_update(of=("self",)).annotate(newer=newer_job(), waiting=Subquery(waiting)).order_by("pk")


# The worker's hot path: its lock compiled once per process (for one job and for a batch).
_JOBS_FOR_RECORD = CompiledIdSelect(lambda ids: _jobs_for_record(SyncJob.objects.filter(pk__in=ids)))


def record(outcomes: list[Outcome]) -> list[str]:
    """Store the attempts and outcomes of claimed jobs in one short transaction.

    Returns each job's new status, in order, or ``"stale"`` for a job whose claim was taken over
    meanwhile (it only adds its attempts: the newer claim decides). Locks phones, then links, then
    jobs, each in id order; writes every table once for the whole batch (attempts, jobs, links,
    the outcome audit entries in the causing operator's name, the phones' chain heads) and queues
    retries and the next job of each link on commit.
    """
    if not outcomes:
        return []
    now = timezone.now()
    by_job = {claim.job_id: (claim, result, error) for claim, result, error in outcomes}
    statuses: dict[int, str] = {}
    queue_after: list[tuple[int, float | None]] = []
    recorded: list[tuple[SyncJob, list[str]]] = []
    with changes() as work:
        # Lock order phone, link, job (each in id order), as every writer.
        phones, links, jobs = work.lock_together(
            (claim.phone_id for claim, _, _ in outcomes),
            (claim.link_id for claim, _, _ in outcomes),
            _JOBS_FOR_RECORD.fetches(sorted(by_job)),
        )
        for link in links.values():
            link.phone = phones[link.phone_id]  # the locked instance: no lazy read per link
        work.add_rows(
            SyncAttempt,
            (
                row
                for claim, result, error in outcomes
                for row in _attempt_rows(claim, result.attempts if result else (error.attempts if error else ()))
            ),
        )
        changed_links: dict[int, tuple[ProviderLink, list[str]]] = {}
        for job in jobs:
            claim, result, error = by_job[job.pk]
            if job.claim_token != claim.token:
                statuses[job.pk] = "stale"  # claimed again meanwhile: the newer claim decides
                continue
            if isinstance(error, CallWithdrawn):
                # The claim failed its check before a request: its lease lapsed, or a newer job
                # superseded it. Nothing it did is an outcome; only its attempts are kept.
                statuses[job.pk] = "stale"
                if job.status == SyncJobStatus.SUPERSEDED:
                    job.locked_until, job.claim_token, job.updated_at = None, None, now  # the next may go
                    recorded.append((job, ["locked_until", "claim_token", "updated_at"]))
                    if job.waiting is not None:
                        queue_after.append((job.waiting, None))
                else:
                    queue_after.append((job.pk, None))  # to be claimed again, now that its lease lapsed
                continue
            job.locked_until = None
            job.claim_token = None
            job.updated_at = now
            old_status = SyncJobStatus.PENDING if claim.mode == "push" else SyncJobStatus.PROVISIONING
            timing = (job.next_attempt_at, job.provisioning_started_at)
            event = apply_outcome(job, claim, result, error, now)
            # Only what changed, so that alike outcomes share one UPDATE.
            fields = JOB_RECORD_FIELDS + [
                name
                for name, before in zip(("next_attempt_at", "provisioning_started_at"), timing, strict=True)
                if getattr(job, name) != before
            ]
            if job.status not in OPEN_JOB_STATUSES:
                job.finished_at = job.finished_at or now
                if job.waiting is not None:
                    queue_after.append((job.waiting, None))  # the next job of the link waited for this one
            elif job.status in (SyncJobStatus.PENDING, SyncJobStatus.PROVISIONING):
                queue_after.append((job.pk, max(0.0, (job.next_attempt_at - now).total_seconds())))
            recorded.append((job, fields))
            statuses[job.pk] = job.status
            if not job.newer and job.status != SyncJobStatus.SUPERSEDED:
                link = links[job.link_id]
                changed_links[link.pk] = (link, show_on_link(link, job, now))
            if event is not None:
                phone = phones[job.phone_id]
                work.record(
                    phone,
                    actor=job_actor(job),
                    event=event,
                    context=AuditContext(origin=Origin.TASK, request_id=job.request_id),
                    obj=job_object(job, phone),
                    changes={"status": [old_status, job.status]},
                )
        work.update_rows(recorded)
        work.update_rows(changed_links.values())
        for job_id, countdown in queue_after:
            work.on_commit(partial(outbox.queue_delivery, job_id, countdown))
    for job, _ in recorded:
        log = logger.warning if job.status == SyncJobStatus.FAILED else logger.info
        log("sync job %s (%s %s) -> %s %s", job.pk, job.provider, job.number, job.status, job.last_error)
    return [statuses.get(claim.job_id, "stale") for claim, _, _ in outcomes]
