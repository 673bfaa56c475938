"""Celery tasks of the provider sync: they take ids and call the delivery, sweeper and
reconciliation functions.

``acks_late`` + ``reject_on_worker_lost`` (settings) give a killed worker's message back to the
broker; the job's lease and the sweeper cover the rest (a message stuck unacknowledged). The
names are the ones the outbox publishes (``phones.outbox``), unchanged since the tasks lived in
the phones app, so messages queued by an older release still run.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from phones.outbox import DELIVER_JOB_TASK, DELIVER_JOBS_TASK, PUSH_CLAIMED_JOB_TASK
from provider_sync import delivery, reconcile, sweeper
from provider_sync.claims import claim_from_message


@shared_task(name=DELIVER_JOB_TASK, ignore_result=True)
def deliver_sync_job(job_id: int) -> str:
    """Push (or poll) this job, with a batch of other due ones when a backlog has built up."""
    return delivery.deliver([job_id])[job_id]


@shared_task(name=DELIVER_JOBS_TASK, ignore_result=True)
def deliver_sync_jobs(job_ids: list[int]) -> dict[int, str]:
    """The jobs one transaction queued (up to ``SYNC_BATCH_SIZE``), delivered in batches."""
    return delivery.deliver(job_ids)


@shared_task(name=PUSH_CLAIMED_JOB_TASK, ignore_result=True, bind=True)
def push_claimed_sync_job(self: Task, message: dict[str, Any]) -> str:
    """Push and record a job its change claimed before committing (``phones.outbox``).

    A message delivered again (its worker died holding it, or the broker gave it back after a
    lost connection) may be one that another worker is still pushing under the same claim: it
    goes the usual way instead, a claim of its own, which waits until that lease is released or
    lapses (the sweeper delivers the job then if this claim finds it taken).
    """
    job_id = message["job"]["id"]
    if (self.request.delivery_info or {}).get("redelivered"):
        return delivery.deliver([job_id])[job_id]
    return delivery.deliver_claimed(claim_from_message(message))


@shared_task(name="phones.sync_sweep", ignore_result=True)
def sync_sweep() -> int:
    """Periodic (beat): re-queue due jobs whose task was lost."""
    return sweeper.requeue_due()


@shared_task(name="phones.sync_reconcile", ignore_result=True)
def sync_reconcile() -> dict[str, int]:
    """Periodic (beat): read linked numbers at their provider and flag drift."""
    return reconcile.reconcile_links()
