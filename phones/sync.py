"""Provider sync: link services, job delivery, sweeper and reconciliation.

Delivery of one job is three steps, and only the middle one talks to the provider:

1. ``sync_job_claim``: a short transaction locks the job (``skip_locked``), checks it is due and
   first in line for its link, marks it claimed with a lease and a token, and commits.
2. The adapter call, outside any transaction (``phones.providers``).
3. ``sync_job_record``: a short transaction stores every HTTP attempt, moves the job and the
   link to their new state and writes the audit entry of the outcome (in the name of the
   operator whose change caused the job). A worker whose lease was lost (it was presumed dead
   and the job re-claimed) only adds its attempts: the newer claim decides.

State machine of a job (``SyncJobStatus``)::

    pending --claim--> in_progress --ok--> synced
                           |   |----ok, Sinch provisioning--> provisioning --poll ok--> synced
                           |   |----permanent error / attempts exhausted--> failed
                           |   `----retryable error--> pending (next_attempt_at = backoff)
                           `--lease expired (worker died)--> re-claimed by the sweeper's task
    any open state --newer job for the same target--> superseded

``synced``, ``failed`` and ``superseded`` are final: such a job is never pushed again.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Exists, F, OuterRef, PositiveIntegerField, Q, Subquery, Value, When
from django.utils import timezone

from audit.models import AuditEntry, AuditEvent, Origin
from audit.services import AuditContext, audit_entries_insert, audit_entry_build, audit_record
from backoffice import roles
from phones import outbox
from phones.errors import PhoneInactive, PhoneNotFound, PhoneNotLinked, PhoneValidationError
from phones.models import (
    OPEN_JOB_STATUSES,
    Phone,
    Provider,
    ProviderLink,
    SyncAttempt,
    SyncJob,
    SyncJobStatus,
    SyncReason,
    SyncState,
)
from phones.outbox import desired_settings, released_settings, sync_job_enqueue
from phones.providers import (
    Attempt,
    PermanentProviderError,
    PlivoSettings,
    ProviderAdapter,
    ProviderError,
    PushResult,
    RemoteNumber,
    RetryableProviderError,
    SinchSettings,
    get_adapter,
)
from phones.providers.base import E164_RE
from phones.services import _require, lock_phone, lock_phones

if TYPE_CHECKING:
    from backoffice.models import User

logger = logging.getLogger("phones.sync")

SETTINGS_CLASSES: dict[str, type[SinchSettings] | type[PlivoSettings]] = {
    Provider.SINCH: SinchSettings,
    Provider.PLIVO: PlivoSettings,
}
# A task that arrives a little before its countdown (clock granularity) still counts as due.
DUE_TOLERANCE = timedelta(seconds=0.5)


# --------------------------------------------------------------------------------------------
# Settings and adapters
# --------------------------------------------------------------------------------------------


def settings_fields(provider: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(SETTINGS_CLASSES[Provider(provider)]))


def settings_from_dict(provider: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a provider's settings; returns them complete (absent keys as None).

    Raises ``PhoneValidationError`` naming ``settings.<field>``.
    """
    if provider not in Provider.values:
        raise PhoneValidationError("provider", f'"{provider}" is not a valid choice.')
    if not isinstance(data, Mapping):
        raise PhoneValidationError("settings", "Expected a JSON object.")
    known = settings_fields(provider)
    for key, value in data.items():
        if key not in known:
            raise PhoneValidationError(f"settings.{key}", f"Unknown {provider} setting.")
        if value is not None and not isinstance(value, str):
            raise PhoneValidationError(f"settings.{key}", "A valid string is required.")
    cleaned = {key: ((data.get(key) or "").strip() or None) for key in known}
    problems = SETTINGS_CLASSES[Provider(provider)](**cleaned).validate()
    if problems:
        field, message = problems[0]
        raise PhoneValidationError(f"settings.{field}", message)
    return cleaned


def settings_object(provider: str, data: Mapping[str, Any] | None) -> SinchSettings | PlivoSettings | None:
    if data is None:
        return None
    known = settings_fields(provider)
    return SETTINGS_CLASSES[Provider(provider)](**{k: v for k, v in data.items() if k in known})


def adapter_config(provider: str) -> dict[str, Any]:
    timeout = settings.PROVIDER_TIMEOUT_SECONDS
    if provider == Provider.SINCH:
        return {
            "base_url": settings.SINCH_NUMBERS_BASE_URL,
            "project_id": settings.SINCH_PROJECT_ID,
            "key_id": settings.SINCH_KEY_ID,
            "key_secret": settings.SINCH_KEY_SECRET,
            "timeout": timeout,
        }
    return {
        "base_url": settings.PLIVO_BASE_URL,
        "auth_id": settings.PLIVO_AUTH_ID,
        "auth_token": settings.PLIVO_AUTH_TOKEN,
        "timeout": timeout,
    }


_adapters: dict[tuple[str, tuple[tuple[str, Any], ...]], ProviderAdapter] = {}
_adapters_lock = threading.Lock()


def build_adapter(provider: str) -> ProviderAdapter:
    """The worker process's adapter for ``provider``, made once and kept.

    Adapters hold nothing but an httpx client (thread-safe, with a keep-alive pool), so jobs share
    it instead of paying a new client and TCP connection each. Keyed by the configuration, so a
    changed base URL or credential gets its own. Made lazily, hence after a prefork worker forked.
    """
    config = adapter_config(provider)
    key = (provider, tuple(sorted(config.items())))
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None:
            adapter = _adapters[key] = get_adapter(provider, config)
    return adapter


# --------------------------------------------------------------------------------------------
# Audit of sync events: same envelope as the contract's events, object describing the sync
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorSnapshot:
    """The operator carried by a job, usable as ``audit_record``'s actor even once deleted."""

    pk: int | None
    email: str
    roles: tuple[str, ...]
    is_authenticated: bool = True

    @property
    def _role_cache(self) -> list[str]:  # read by backoffice.auth.operator_roles
        return list(self.roles)


def link_object(link: ProviderLink) -> dict[str, Any]:
    return {
        "phone_id": link.phone_id,
        "account_id": link.phone.account_id,
        "provider": link.provider,
        "remote_number": link.remote_number,
        "number": link.number_e164,
        "linked": link.linked,
        "settings": dict(link.settings),
    }


def job_object(job: SyncJob, phone: Phone) -> dict[str, Any]:
    return {
        "phone_id": phone.pk,
        "account_id": phone.account_id,
        "job_id": job.pk,
        "provider": job.provider,
        "number": job.number,
        "reason": job.reason,
        "status": job.status,
        "attempts": job.attempts,
        "desired": job.desired,
        "provider_status": job.last_status,
        "message": job.last_error,
        "error_codes": list(job.last_error_codes),
    }


def _audit_entry(job: SyncJob, phone: Phone, event: str, old_status: str) -> AuditEntry:
    """Outcome entry in the name of the job's operator, chained to the locked phone's head."""
    return audit_entry_build(
        actor=OperatorSnapshot(job.operator_id, job.operator_email, tuple(job.operator_roles)),  # type: ignore[arg-type]
        event=event,
        context=AuditContext(origin=Origin.TASK, request_id=job.request_id),
        obj=job_object(job, phone),
        changes={"status": [old_status, job.status]},
        phone_id=phone.pk,
        account_id=phone.account_id,
        prev_hash=phone.audit_head,
    )


# --------------------------------------------------------------------------------------------
# Services: link, unlink, re-sync
# --------------------------------------------------------------------------------------------


def _clean_remote_number(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PhoneValidationError("remote_number", "A valid string is required.")
    value = value.strip()
    if value and not E164_RE.match(value):
        raise PhoneValidationError("remote_number", "Enter an E.164 number, e.g. +5511912345678.")
    return value


def provider_link_set(
    *,
    actor: User,
    context: AuditContext,
    account_id: int,
    phone_id: int,
    provider: str,
    settings: Mapping[str, Any],
    remote_number: str | None = "",
) -> ProviderLink:
    """Link a phone to a provider number, or change its link; queues the sync.

    One transaction: phone lock, link write, ``phone_link_change`` audit entry, outbox job.
    Nothing changed means no write. Switching provider or number releases the old number first
    (its own job, run before the new one). Raises ``PhoneValidationError`` (400),
    ``PhoneNotFound`` (404), ``PhoneInactive`` (422), ``OperatorNotAllowed`` (403).
    """
    _require(actor, roles.MANAGE_PROVIDER_LINK)
    cleaned = settings_from_dict(provider, settings)
    remote = _clean_remote_number(remote_number)
    with transaction.atomic():
        phone = lock_phone(account_id=account_id, phone_id=phone_id)
        if not phone.active:
            raise PhoneInactive()
        link = ProviderLink.objects.select_for_update().filter(phone=phone).first()
        if link is None:
            link = ProviderLink(phone=phone, provider=provider, remote_number=remote, settings=cleaned)
            before: dict[str, Any] = {}
            reason = SyncReason.LINK
        else:
            link.phone = phone
            if link.linked and (link.provider, link.remote_number, link.settings) == (provider, remote, cleaned):
                return link
            before = link_object(link)
            old_target = (link.provider, link.number_e164)
            reason = SyncReason.LINK_CHANGE if link.linked else SyncReason.LINK
            link.provider, link.remote_number, link.settings, link.linked = provider, remote, cleaned, True
            if old_target != (link.provider, link.number_e164):
                # The old number is ours no more: give up its services (own job, first in line),
                # and forget what we pushed there.
                sync_job_enqueue(
                    link=link,
                    phone=phone,
                    reason=SyncReason.RELEASE,
                    actor=actor,
                    context=context,
                    provider=old_target[0],
                    number=old_target[1],
                    desired=released_settings(old_target[0], dict(before["settings"])),
                )
                link.pushed_settings = None
        if link.pk is None:
            link.save(force_insert=True)
        else:
            link.save(
                update_fields=["provider", "remote_number", "settings", "linked", "pushed_settings", "updated_at"]
            )
        linking = not phone.provider_linked
        phone.provider_linked = True
        after = link_object(link)
        audit_record(
            actor=actor,
            event=AuditEvent.PHONE_LINK_CHANGE,
            context=context,
            obj=after,
            changes={key: [before.get(key), value] for key, value in after.items() if before.get(key) != value},
            phone=phone,
            writing=["provider_linked"] if linking else [],
        )
        sync_job_enqueue(link=link, phone=phone, reason=reason, actor=actor, context=context)
    return link


def provider_link_remove(*, actor: User, context: AuditContext, account_id: int, phone_id: int) -> ProviderLink:
    """Unlink: the number gives up its SMS and voice services (queued sync), the link stays as
    history with ``linked=False`` and is no longer reconciled. Already unlinked: no write."""
    _require(actor, roles.MANAGE_PROVIDER_LINK)
    with transaction.atomic():
        phone = lock_phone(account_id=account_id, phone_id=phone_id)
        link = ProviderLink.objects.select_for_update().filter(phone=phone).first()
        if link is None:
            raise PhoneNotLinked()
        link.phone = phone
        if not link.linked:
            return link
        link.linked = False
        link.save(update_fields=["linked", "updated_at"])
        phone.provider_linked = False
        audit_record(
            actor=actor,
            event=AuditEvent.PHONE_UNLINK,
            context=context,
            obj=link_object(link),
            changes={"linked": [True, False]},
            phone=phone,
            writing=["provider_linked"],
        )
        sync_job_enqueue(link=link, phone=phone, reason=SyncReason.UNLINK, actor=actor, context=context)
    return link


def phone_resync(*, actor: User, context: AuditContext, account_id: int, phone_id: int) -> SyncJob:
    """Queue a fresh push of the phone's desired state (``phone_sync_requested`` entry).

    Raises ``PhoneNotLinked`` (409) for a phone without a provider link.
    """
    _require(actor, roles.RESYNC_PHONE)
    with transaction.atomic():
        phone = lock_phone(account_id=account_id, phone_id=phone_id)
        link = ProviderLink.objects.select_for_update().filter(phone=phone).first()
        if link is None:
            raise PhoneNotLinked()
        link.phone = phone
        job = sync_job_enqueue(link=link, phone=phone, reason=SyncReason.RESYNC, actor=actor, context=context)
        audit_record(
            actor=actor,
            event=AuditEvent.PHONE_SYNC_REQUESTED,
            context=context,
            obj=job_object(job, phone),
            changes={},
            phone=phone,
        )
    return job


def phones_resync(*, actor: User, context: AuditContext, phone_ids: Iterable[int]) -> list[SyncJob]:
    """Re-sync a selection: one transaction per phone; phones without a link are skipped."""
    _require(actor, roles.RESYNC_PHONE)
    jobs = []
    for phone_id, account_id in Phone.objects.filter(pk__in=list(phone_ids)).values_list("pk", "account_id"):
        try:
            jobs.append(phone_resync(actor=actor, context=context, account_id=account_id, phone_id=phone_id))
        except (PhoneNotLinked, PhoneNotFound):
            continue
    return jobs


# --------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    job_id: int
    token: uuid.UUID
    mode: str  # "push" or "poll"
    provider: str
    number: str
    desired: dict[str, Any]
    previous: dict[str, Any] | None
    try_number: int
    phone_id: int
    link_id: int


Outcome = tuple[Claim, "PushResult | None", "ProviderError | None"]


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


def _claimable(now: Any) -> Q:
    lease_free = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    due = Q(status__in=(SyncJobStatus.PENDING, SyncJobStatus.PROVISIONING), next_attempt_at__lte=now + DUE_TOLERANCE)
    # An in-progress job whose lease ran out: its worker died.
    return (due | Q(status=SyncJobStatus.IN_PROGRESS)) & lease_free


def _blocked(now: Any) -> Q:
    """Jobs of one link go in order, and never while another push of the link is out.

    Two probes, each answered by a small partial index (open jobs; jobs with a lease), so the
    check costs the same however long the jobs' history grows.
    """
    older_open = SyncJob.objects.filter(
        link_id=OuterRef("link_id"), status__in=OPEN_JOB_STATUSES, pk__lt=OuterRef("pk")
    )
    out = SyncJob.objects.filter(link_id=OuterRef("link_id"), locked_until__gt=now).exclude(pk=OuterRef("pk"))
    return Q(Exists(older_open)) | Q(Exists(out))


def _newer_job() -> Exists:
    """The link shows the state of its newest job only (older ones are releases or history)."""
    return Exists(SyncJob.objects.filter(link_id=OuterRef("link_id"), pk__gt=OuterRef("pk")))


def sync_jobs_claim(job_id: int, *, limit: int = 1) -> list[Claim]:
    """Claim due jobs for this worker in one short transaction; ``[]`` when there is nothing to do.

    ``limit=1`` claims ``job_id`` only. A larger limit claims the oldest due jobs (``job_id``
    among them when it is still free and in line): a task that finds a backlog takes a batch.
    Rows are taken with ``FOR UPDATE SKIP LOCKED`` and never waited for, so claiming holds no
    lock a service could wait on in a cycle; the link's displayed state is set after commit.
    """
    now = timezone.now()
    candidates = SyncJob.objects.select_for_update(skip_locked=True, of=("self",)).filter(_claimable(now))
    candidates = candidates.exclude(_blocked(now)).annotate(newer=_newer_job())
    # A batch takes the oldest due first (FIFO), whichever task finds them.
    batch = candidates.filter(pk=job_id) if limit <= 1 else candidates.order_by("next_attempt_at", "pk")[:limit]
    token = uuid.uuid4()
    with transaction.atomic():
        jobs = list(batch)
        if not jobs:
            return []
        poll, count = Q(status=SyncJobStatus.PROVISIONING), PositiveIntegerField()
        SyncJob.objects.filter(pk__in=[job.pk for job in jobs]).update(
            status=Case(When(poll, then=Value(SyncJobStatus.PROVISIONING)), default=Value(SyncJobStatus.IN_PROGRESS)),
            attempts=Case(When(poll, then=F("attempts")), default=F("attempts") + 1, output_field=count),
            polls=Case(When(poll, then=F("polls") + 1), default=F("polls"), output_field=count),
            locked_until=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS),
            claim_token=token,
            updated_at=now,
        )
    claims = []
    for job in jobs:
        mode = "poll" if job.status == SyncJobStatus.PROVISIONING else "push"
        claims.append(
            Claim(
                job_id=job.pk,
                token=token,
                mode=mode,
                provider=job.provider,
                number=job.number,
                desired=dict(job.desired),
                previous=job.previous,
                try_number=job.attempts + (mode == "push"),
                phone_id=job.phone_id,
                link_id=job.link_id,
            )
        )
    # Shown on the link; outside the claim's transaction (lock order is phone -> link -> job) and
    # only while no newer job waits (a service that just queued one set the link to pending).
    pushing = [job.link_id for job in jobs if job.status != SyncJobStatus.PROVISIONING and not job.newer]
    waiting = Exists(SyncJob.objects.filter(link_id=OuterRef("pk"), status=SyncJobStatus.PENDING))
    ProviderLink.objects.filter(pk__in=[job.link_id for job in jobs]).update(
        last_attempt_at=now,
        updated_at=now,
        sync_state=Case(When(Q(pk__in=pushing) & ~waiting, then=Value(SyncState.IN_PROGRESS)), default=F("sync_state")),
    )
    return claims


def sync_job_claim(job_id: int) -> Claim | None:
    """Claim one job (see ``sync_jobs_claim``); None when it is not due, not free or final."""
    claims = sync_jobs_claim(job_id, limit=1)
    return claims[0] if claims else None


def sync_job_push(claim: Claim) -> tuple[PushResult | None, ProviderError | None]:
    """The provider call. Must not run inside a transaction: a slow provider holds no lock."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("provider calls never run inside a database transaction")
    desired = settings_object(claim.provider, claim.desired)
    previous = settings_object(claim.provider, claim.previous)
    attempts: list[Attempt] = []
    try:
        adapter = build_adapter(claim.provider)
    except (KeyError, ValueError) as exc:
        return None, PermanentProviderError(f"provider not configured: {exc}", provider=claim.provider)
    try:
        if claim.mode == "poll":
            return adapter.poll_provisioning(claim.number, desired), None  # type: ignore[attr-defined]
        return adapter.push(claim.number, desired, previous), None
    except ProviderError as error:
        return None, error
    except Exception as exc:
        # A bug or an unexpected answer: keep it visible on the job and retry with backoff.
        logger.exception("unexpected error pushing sync job %s", claim.job_id)
        return None, RetryableProviderError(
            f"unexpected error: {type(exc).__name__}: {exc}", attempts=attempts, provider=claim.provider
        )


_pusher: ThreadPoolExecutor | None = None
_pusher_lock = threading.Lock()


def sync_jobs_push(claims: list[Claim]) -> list[Outcome]:
    """Push a batch concurrently (provider calls are I/O; the adapters' clients are thread-safe).

    The pool is made lazily, hence in each worker process after a prefork worker forked.
    """
    global _pusher
    if len(claims) == 1 or settings.SYNC_PUSH_THREADS <= 1:
        return [(claim, *sync_job_push(claim)) for claim in claims]
    with _pusher_lock:
        if _pusher is None:
            _pusher = ThreadPoolExecutor(max_workers=settings.SYNC_PUSH_THREADS, thread_name_prefix="sync-push")
    return [(claim, *pushed) for claim, pushed in zip(claims, _pusher.map(sync_job_push, claims), strict=True)]


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


def _remote_summary(remote: RemoteNumber) -> dict[str, Any]:
    return {key: value for key, value in vars(remote.settings).items()}


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


def _apply_outcome(
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


def sync_jobs_record(outcomes: list[Outcome]) -> list[str]:
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
    with transaction.atomic():
        phones = lock_phones(claim.phone_id for claim, _, _ in outcomes)
        links = {
            link.pk: link
            for link in ProviderLink.objects.select_for_update()
            .filter(pk__in=sorted({claim.link_id for claim, _, _ in outcomes}))
            .order_by("pk")
        }
        for link in links.values():
            link.phone = phones[link.phone_id]  # the locked instance: no lazy read per link
        waiting = (
            SyncJob.objects.filter(link_id=OuterRef("link_id"), status__in=OPEN_JOB_STATUSES)
            .exclude(pk=OuterRef("pk"))
            .order_by("pk")
            .values("pk")[:1]
        )
        jobs = list(
            SyncJob.objects.select_for_update(of=("self",))
            .filter(pk__in=sorted(by_job))
            .annotate(newer=_newer_job(), waiting=Subquery(waiting))
            .order_by("pk")
        )
        SyncAttempt.objects.bulk_create(
            row
            for claim, result, error in outcomes
            for row in _attempt_rows(claim, result.attempts if result else (error.attempts if error else ()))
        )
        recorded: list[tuple[SyncJob, list[str]]] = []
        changed_links: dict[int, tuple[ProviderLink, list[str]]] = {}
        entries: list[AuditEntry] = []
        for job in jobs:
            claim, result, error = by_job[job.pk]
            if job.claim_token != claim.token:
                statuses[job.pk] = "stale"
                continue
            job.locked_until = None
            job.claim_token = None
            job.updated_at = now
            old_status = SyncJobStatus.PENDING if claim.mode == "push" else SyncJobStatus.PROVISIONING
            timing = (job.next_attempt_at, job.provisioning_started_at)
            event = _apply_outcome(job, claim, result, error, now)
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
                changed_links[link.pk] = (link, _update_link(link, job, now, result))
            if event is not None:
                phone = phones[job.phone_id]
                entries.append(_audit_entry(job, phone, event, old_status))
                phone.audit_head = entries[-1].hash
        batch_ids = [job.pk for job, _ in recorded]
        _update_grouped(SyncJob, recorded)
        # What a synced link now holds is its job's desired state: read in the UPDATE itself, so
        # links that differ only by their settings still share one statement.
        pushed = Subquery(SyncJob.objects.filter(link_id=OuterRef("pk"), pk__in=batch_ids).values("desired")[:1])
        _update_grouped(ProviderLink, list(changed_links.values()), computed={"pushed_settings": pushed})
        if entries:
            audit_entries_insert(entries)
            # Each phone's head is its newest entry, just inserted under the phone's lock.
            head = Subquery(AuditEntry.objects.filter(phone_id=OuterRef("pk")).order_by("-id").values("hash")[:1])
            Phone.objects.filter(pk__in=[entry.phone_id for entry in entries]).update(audit_head=head)
        for job_id, countdown in queue_after:
            transaction.on_commit(partial(outbox.queue_delivery, job_id, countdown))
    for job, _ in recorded:
        log = logger.warning if job.status == SyncJobStatus.FAILED else logger.info
        log("sync job %s (%s %s) -> %s %s", job.pk, job.provider, job.number, job.status, job.last_error)
    return [statuses.get(claim.job_id, "stale") for claim, _, _ in outcomes]


def _update_grouped(
    model: type[models.Model], rows: list[tuple[Any, list[str]]], computed: dict[str, Any] | None = None
) -> None:
    """Write each object's listed fields: one UPDATE per distinct set of values (a batch's outcomes
    are mostly alike), not Django's ``bulk_update`` (a CASE per field and row: costly to build).
    A field named in ``computed`` is set by that expression, evaluated per row, not by a value."""
    computed = computed or {}
    groups: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for obj, names in rows:
        values = {name: computed.get(name, getattr(obj, name)) for name in names}
        key = json.dumps(
            {name: repr(value) if name in computed else value for name, value in values.items()},
            sort_keys=True,
            default=str,
        )
        groups.setdefault(key, (values, []))[1].append(obj.pk)
    for values, pks in groups.values():
        model._default_manager.filter(pk__in=pks).update(**values)


def sync_job_record(claim: Claim, result: PushResult | None, error: ProviderError | None) -> str:
    """Record one claimed job (see ``sync_jobs_record``)."""
    return sync_jobs_record([(claim, result, error)])[0]


def _nothing_to_release(job: SyncJob, error: PermanentProviderError) -> bool:
    """Releasing a number the provider no longer has is done already."""
    return job.reason in (SyncReason.RELEASE, SyncReason.UNLINK) and error.status == 404


def _provisioning_overdue(job: SyncJob, now: Any) -> bool:
    started = job.provisioning_started_at
    return started is not None and (now - started).total_seconds() > settings.SYNC_PROVISIONING_TIMEOUT_SECONDS


def _update_link(link: ProviderLink, job: SyncJob, now: Any, result: PushResult | None) -> list[str]:
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


def sync_jobs_deliver(job_ids: Sequence[int], *, max_batches: int = 64) -> dict[int, str]:
    """What the delivery tasks run: while any of ``job_ids`` waits, claim the oldest due jobs in
    batches of ``SYNC_BATCH_SIZE``, push each batch concurrently outside any transaction and
    record it.

    Oldest first, so the task's jobs are reached; a task that finds a backlog drains it (one
    message then does the work of many; the others find their jobs taken after one cheap read).
    Stops when none of ``job_ids`` is claimable any more (taken, done, not due, or gone), when
    nothing is claimable (a link's turn has not come: the job ahead queues it when done), or after
    ``max_batches``. Returns each of ``job_ids``' new status, ``"skipped"`` where this task did not
    take it.
    """
    statuses = dict.fromkeys(job_ids, "skipped")
    waiting = list(statuses)
    for _ in range(max_batches):
        waiting = list(
            SyncJob.objects.filter(_claimable(timezone.now()), pk__in=waiting).order_by().values_list("pk", flat=True)
        )
        if not waiting:
            break
        claims = sync_jobs_claim(waiting[0], limit=settings.SYNC_BATCH_SIZE)
        if not claims:
            break
        for claim, status in zip(claims, sync_jobs_record(sync_jobs_push(claims)), strict=True):
            if claim.job_id in statuses:
                statuses[claim.job_id] = status
    return statuses


def sync_job_run(job_id: int) -> str:
    """Claim, push (outside any transaction) and record this one job."""
    claim = sync_job_claim(job_id)
    if claim is None:
        return "skipped"
    result, error = sync_job_push(claim)
    return sync_job_record(claim, result, error)


# --------------------------------------------------------------------------------------------
# Sweeper, callback, reconciliation
# --------------------------------------------------------------------------------------------


def sync_jobs_requeue_due(*, limit: int = 1000) -> int:
    """Queue the jobs that are due but whose task was lost (broker down at commit, worker
    killed mid-job: its lease ran out). Duplicates are harmless: the claim decides."""
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
    # Stops at the first failed publish: the broker is still down, the next sweep tries again.
    queued = outbox.queue_deliveries(list(due))
    if queued:
        logger.info("sweeper re-queued %s sync job(s)", queued)
    return queued


def sinch_callback_received(*, number: str, event_type: str, status: str) -> list[int]:
    """A (verified) Sinch provisioning callback: make the number's provisioning jobs due now.

    The callback is not trusted as the outcome (order is not guaranteed): the worker confirms
    with a GET of the number. Returns the ids of the jobs nudged.
    """
    nudged: list[int] = []
    now = timezone.now()
    with transaction.atomic():
        links = ProviderLink.objects.select_for_update().filter(
            Q(remote_number=number) | Q(remote_number="", phone__e164=number)
        )
        link_ids = [link.pk for link in links]
        jobs = SyncJob.objects.select_for_update().filter(
            link_id__in=link_ids, provider=Provider.SINCH, number=number, status=SyncJobStatus.PROVISIONING
        )
        for job in jobs:
            job.next_attempt_at = now
            job.save(update_fields=["next_attempt_at", "updated_at"])
            nudged.append(job.pk)
            transaction.on_commit(partial(outbox.queue_delivery, job.pk))
    logger.info("sinch callback %s %s for %s: nudged jobs %s", event_type, status, number, nudged)
    return nudged


def compare_settings(provider: str, desired: dict[str, Any], remote: RemoteNumber) -> dict[str, Any]:
    """Fields where the provider disagrees with what we hold. Free-text values we leave to the
    provider (None) are not compared; service links are (None means "must not be linked")."""
    theirs = _remote_summary(remote)
    always = {
        Provider.SINCH: ("sms_service_plan_id", "sms_campaign_id", "voice_type", "voice_target_id"),
        Provider.PLIVO: ("app_id",),
    }[Provider(provider)]
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


def provider_links_reconcile(*, link_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Read each linked number at its provider and record drift on the link.

    Never overwrites either side: an operator decides (re-sync pushes ours; editing the link
    adopts theirs). Links with an open job are skipped: their state is in flux.
    """
    open_jobs = SyncJob.objects.filter(link=OuterRef("pk"), status__in=OPEN_JOB_STATUSES)
    links = ProviderLink.objects.filter(linked=True).exclude(Exists(open_jobs)).select_related("phone")
    if link_ids is not None:
        links = links.filter(pk__in=list(link_ids))
    counts = {"checked": 0, "drift": 0, "errors": 0}
    for link in links.iterator(chunk_size=200):
        adapter = build_adapter(link.provider)
        desired = desired_settings(link, link.phone)
        try:
            remote = adapter.fetch(link.number_e164)  # outside any transaction
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
        with transaction.atomic():
            fresh = ProviderLink.objects.select_for_update().get(pk=link.pk)
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
            fresh.save(update_fields=["drift", "drift_detected_at", "drift_checked_at", "updated_at"])
    return counts
