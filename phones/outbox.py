"""Transactional outbox of the provider sync: a change and its sync job commit together.

Called by services inside the change's transaction, while they hold the phone's row lock. The
Celery task is only queued on commit; if the broker is down then, the job row stays pending and
the sweeper (``phones.tasks.sync_sweep``) queues it later. Nothing here talks to a provider.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backoffice.auth import operator_roles
from backoffice.db import CompiledSelect
from phones.models import (
    OPEN_JOB_STATUSES,
    Phone,
    Provider,
    ProviderLink,
    SyncJob,
    SyncJobStatus,
    SyncReason,
    SyncState,
)

if TYPE_CHECKING:
    from audit.services import AuditContext

logger = logging.getLogger("phones.sync")

# Fields of each provider's settings that attach the number to a service: an inactivated phone or
# a removed link releases them (DESIGN.md section 4: inactivation unlinks SMS and voice).
SERVICE_FIELDS = {
    Provider.SINCH: ("sms_service_plan_id", "sms_campaign_id", "voice_type", "voice_target_id"),
    Provider.PLIVO: ("app_id",),
}
# Publishing must fail fast when the broker is down: the request that committed is not held up,
# the sweeper delivers the job later.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def released_settings(provider: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the number detached from its SMS and voice services."""
    return {**settings, **dict.fromkeys(SERVICE_FIELDS[Provider(provider)])}


def desired_settings(link: ProviderLink, phone: Phone) -> dict[str, Any]:
    """What the provider number should hold now."""
    if not phone.active or not link.linked:
        return released_settings(link.provider, dict(link.settings))
    return dict(link.settings)


def queue_delivery(job_id: int, countdown: float | None = None) -> bool:
    """Queue ``deliver_sync_job``; never raises (a lost publish is the sweeper's job)."""
    from phones.tasks import deliver_sync_job

    try:
        deliver_sync_job.apply_async((job_id,), countdown=countdown, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except Exception as exc:
        logger.warning(
            "could not queue sync job %s (%s: %s): the sweeper will deliver it", job_id, type(exc).__name__, exc
        )
        return False
    return True


def queue_deliveries(job_ids: Sequence[int]) -> int:
    """Queue ``deliver_sync_jobs`` for these jobs, ``SYNC_BATCH_SIZE`` ids per message, and say
    how many were queued; never raises (what is not published is the sweeper's job)."""
    from phones.tasks import deliver_sync_jobs

    size = django_settings.SYNC_BATCH_SIZE
    for start in range(0, len(job_ids), size):
        chunk = list(job_ids[start : start + size])
        try:
            deliver_sync_jobs.apply_async((chunk,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception as exc:
            logger.warning(
                "could not queue sync jobs %s (%s: %s): the sweeper will deliver them",
                list(job_ids[start:]),
                type(exc).__name__,
                exc,
            )
            return start
    return len(job_ids)


class CommitBatch:
    """The sync jobs queued in one transaction, published when it commits: one message per
    ``SYNC_BATCH_SIZE`` jobs instead of one per job. A bulk change of 1,000 linked phones used to
    publish 1,000 messages, and each cost the workers a task run that mostly found its job
    already taken by a batch; now it costs 32.

    It is registered as an on-commit hook once per job, so Django's savepoint semantics hold: a
    savepoint that rolls back drops its jobs' registrations, and a batch all of whose
    registrations were dropped is never published. The first registration that runs after the
    commit publishes the whole batch; the others find it done. An id whose savepoint rolled back
    while the batch survived is published too and found missing by the task: harmless.
    """

    __slots__ = ("done", "job_ids")

    def __init__(self) -> None:
        self.job_ids: list[int] = []
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            queue_deliveries(self.job_ids)

    @classmethod
    def current(cls) -> CommitBatch:
        """This transaction's open batch, found among its registered on-commit hooks (Django's
        ``connection.run_on_commit``, which its own ``captureOnCommitCallbacks`` reads too; the
        latest first: usually the last one), or a new one."""
        for _savepoints, hook, _robust in reversed(transaction.get_connection().run_on_commit):
            if isinstance(hook, cls) and not hook.done:
                return hook
        return cls()


def sync_job_enqueue(
    *,
    link: ProviderLink,
    phone: Phone,
    reason: str,
    actor: Any,
    context: AuditContext,
    desired: dict[str, Any] | None = None,
    provider: str | None = None,
    number: str | None = None,
) -> SyncJob:
    """Write the outbox row for ``link`` (default target: its provider, number and desired state).

    Must run inside the change's transaction with the phone locked. Open jobs for the same target
    are superseded: the newest desired state wins and stale ones are never pushed. Jobs for
    another target (an old number being released) stay and run first, in order.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sync_job_enqueue must run in the transaction of the change")
    provider = provider or link.provider
    number = number or link.number_e164
    if desired is None:
        desired = desired_settings(link, phone)
    now = timezone.now()
    same_target = SyncJob.objects.filter(link=link, provider=provider, number=number)
    previous = link.pushed_settings
    if previous is None:
        # Nothing confirmed at the provider yet: the last desired state is the best guess.
        previous = same_target.order_by("-id").values_list("desired", flat=True).first()
    # locked_until is kept: a superseded job still out at the provider blocks the next one until
    # it is back, so two pushes for one number never overlap.
    same_target.filter(status__in=OPEN_JOB_STATUSES).update(
        status=SyncJobStatus.SUPERSEDED, finished_at=now, updated_at=now
    )
    job = SyncJob.objects.create(
        link=link,
        phone=phone,
        provider=provider,
        number=number,
        reason=reason,
        desired=desired,
        previous=previous if provider == link.provider else None,
        next_attempt_at=now,
        operator_id=getattr(actor, "pk", None),
        operator_email=actor.email,
        operator_roles=operator_roles(actor),
        origin=context.origin,
        request_id=context.request_id,
    )
    if link.sync_state != SyncState.PENDING:
        link.sync_state = SyncState.PENDING
        link.save(update_fields=["sync_state", "updated_at"])
    batch = CommitBatch.current()
    batch.job_ids.append(job.pk)
    transaction.on_commit(batch)
    return job


def _linked_for_update(_shape: None, *, phone_id: int) -> QuerySet[ProviderLink]:
    return ProviderLink.objects.select_for_update().filter(phone_id=phone_id, linked=True).order_by("pk")[:1]


# Compiled once: this runs in every change of a linked phone (callers hold the transaction).
_LINKED_FOR_UPDATE = CompiledSelect(_linked_for_update)


def sync_after_phone_change(
    *, phone: Phone, changed: set[str], previous_e164: str | None, actor: Any, context: AuditContext
) -> SyncJob | None:
    """A linked phone changed: queue its sync (and release its old number if it moved)."""
    links = _LINKED_FOR_UPDATE.fetch(phone_id=phone.pk)
    if not links:
        return None
    link = links[0]
    link.phone = phone  # the caller's locked, current instance: no second read of the phone
    reason = SyncReason.INACTIVATION if "active" in changed and not phone.active else SyncReason.PHONE_CHANGE
    if not link.remote_number and previous_e164 and previous_e164 != phone.e164:
        # The link follows the phone's number: the old number gives up its services first.
        sync_job_enqueue(
            link=link,
            phone=phone,
            reason=SyncReason.RELEASE,
            actor=actor,
            context=context,
            number=previous_e164,
            desired=released_settings(link.provider, dict(link.settings)),
        )
    return sync_job_enqueue(link=link, phone=phone, reason=reason, actor=actor, context=context)
