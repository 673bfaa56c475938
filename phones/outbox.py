"""Transactional outbox of the provider sync: what a change must bring to the provider, and the
publishing of its jobs once the change has committed.

The job rows themselves are written by the unit of work (``phones.changes``) in the change's
transaction. Their delivery tasks are only published on commit; if the broker is down then, the
rows stay pending and the sweeper (``provider_sync.sweeper``) publishes them later. Tasks are
published by name, so this app does not import the sync package that runs them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.db import transaction

from phones.models import Phone, Provider, ProviderLink, SyncReason

if TYPE_CHECKING:
    from audit.services import AuditContext
    from backoffice.actor import Actor
    from phones.changes import UnitOfWork

logger = logging.getLogger("phones.sync")

# The delivery tasks' names (registered by ``provider_sync.tasks``); kept as they were when the
# tasks lived in this app, so messages already queued by an older release still find them.
DELIVER_JOB_TASK = "phones.deliver_sync_job"
DELIVER_JOBS_TASK = "phones.deliver_sync_jobs"
# A job its change claimed before committing (``UnitOfWork.claim_lone_job``): the message carries
# the claim (``claimed_message``), and the worker pushes without claiming.
PUSH_CLAIMED_JOB_TASK = "phones.push_claimed_sync_job"

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


def sync_after_phone_change(
    work: UnitOfWork, *, phone: Phone, changed: set[str], previous_e164: str | None, actor: Actor, context: AuditContext
) -> None:
    """A linked phone changed (``work`` holds its lock): queue its sync, and first the release of
    its old number if the link followed the phone's number."""
    link = work.lock_link(phone, active_only=True)
    if link is None:
        return
    reason = SyncReason.INACTIVATION if "active" in changed and not phone.active else SyncReason.PHONE_CHANGE
    if not link.remote_number and previous_e164 and previous_e164 != phone.e164:
        queue_release(
            work,
            link=link,
            phone=phone,
            target=(link.provider, previous_e164),
            settings=link.settings,
            actor=actor,
            context=context,
        )
        work.save_link(link, retarget=True)  # the number it holds at the provider follows the phone's
    work.enqueue_job(link=link, phone=phone, reason=reason, actor=actor, context=context)


def queue_release(
    work: UnitOfWork,
    *,
    link: ProviderLink,
    phone: Phone,
    target: tuple[str, str],
    settings: dict[str, Any],
    actor: Actor,
    context: AuditContext,
) -> None:
    """The number ``target`` (provider, E.164) is the link's no more: queue giving up its SMS and
    voice services (its own job, run before the link's next one)."""
    provider, number = target
    work.enqueue_job(
        link=link,
        phone=phone,
        reason=SyncReason.RELEASE,
        actor=actor,
        context=context,
        provider=provider,
        number=number,
        desired=released_settings(provider, dict(settings)),
    )


def _publish(task: str, args: tuple[Any, ...], countdown: float | None = None) -> None:
    from backoffice.celery import app

    app.send_task(task, args, countdown=countdown, retry=True, retry_policy=PUBLISH_RETRY_POLICY)


def queue_delivery(job_id: int, countdown: float | None = None) -> bool:
    """Publish the delivery of one job; never raises (a lost publish is the sweeper's job)."""
    try:
        _publish(DELIVER_JOB_TASK, (job_id,), countdown)
    except Exception as exc:
        logger.warning(
            "could not queue sync job %s (%s: %s): the sweeper will deliver it", job_id, type(exc).__name__, exc
        )
        return False
    return True


def queue_deliveries(job_ids: Sequence[int]) -> int:
    """Publish the delivery of these jobs, ``SYNC_BATCH_SIZE`` ids per message, and say how many
    were published; never raises (what is not published is the sweeper's job)."""
    size = django_settings.SYNC_BATCH_SIZE
    for start in range(0, len(job_ids), size):
        chunk = list(job_ids[start : start + size])
        try:
            _publish(DELIVER_JOBS_TASK, (chunk,))
        except Exception as exc:
            logger.warning(
                "could not queue sync jobs %s (%s: %s): the sweeper will deliver them",
                list(job_ids[start:]),
                type(exc).__name__,
                exc,
            )
            return start
    return len(job_ids)


def pending_on_commit_hooks() -> list[Any]:
    """The on-commit hooks registered so far in the current transaction, latest last.

    Django keeps them in ``connection.run_on_commit`` as (savepoint ids, hook, robust) tuples: a
    private structure (Django 5.2), read here only, and checked by
    ``phones/tests/test_outbox.py`` so that an upgrade that changes it fails loudly.
    """
    return [entry[1] for entry in transaction.get_connection().run_on_commit]


class CommitBatch:
    """The sync jobs queued in one transaction, published when it commits: one message per
    ``SYNC_BATCH_SIZE`` jobs instead of one per job (a bulk change of 1,000 linked phones used to
    publish 1,000 messages; now 32).

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
        """This transaction's open batch (usually the latest hook), or a new one."""
        for hook in reversed(pending_on_commit_hooks()):
            if isinstance(hook, cls) and not hook.done:
                return hook
        return cls()


def claimed_message(job: dict[str, Any], *, token: uuid.UUID, lease_until: datetime) -> dict[str, Any]:
    """The message of a job claimed at commit: the claimed row as the claim statement returned it
    (``phones.claim_statement.COLUMNS``), the claim's token and its lease. Read back by
    ``provider_sync.claims.claim_from_message``."""
    return {"job": job, "token": token.hex, "lease_until": lease_until.isoformat()}


class ClaimedPush:
    """On commit, publish a job claimed in the transaction (its own hook: a savepoint that rolls
    back drops it with the job).

    A message that is not published leaves the job claimed until its lease lapses; the sweeper
    then delivers it as any job whose message was lost. The claim is not given back here: a
    publish that failed may still have reached the broker, and a worker that got it pushes while
    the lease holds (it checks the lease, not the database, while the lease has time left).
    """

    __slots__ = ("message",)

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message

    def __call__(self) -> None:
        job_id = self.message["job"]["id"]
        try:
            _publish(PUSH_CLAIMED_JOB_TASK, (self.message,))
        except Exception as exc:
            logger.warning(
                "could not queue claimed sync job %s (%s: %s): the sweeper will deliver it when its lease lapses",
                job_id,
                type(exc).__name__,
                exc,
            )


def publish_claimed_on_commit(job: dict[str, Any], *, token: uuid.UUID, lease_until: datetime) -> None:
    """Publish the claimed ``job`` (a row of the claim statement) once the transaction commits,
    instead of its unclaimed delivery (``publish_on_commit``)."""
    batch = CommitBatch.current()
    if job["id"] in batch.job_ids:
        batch.job_ids.remove(job["id"])
    transaction.on_commit(ClaimedPush(claimed_message(job, token=token, lease_until=lease_until)))


def publish_on_commit(job_id: int) -> None:
    """Publish ``job_id``'s delivery once the current transaction commits (never if it rolls back)."""
    batch = CommitBatch.current()
    batch.job_ids.append(job_id)
    transaction.on_commit(batch)
