"""Celery tasks of the provider sync. They take ids and call ``phones.sync``; see its docstring.

``acks_late`` + ``reject_on_worker_lost`` (settings) give a killed worker's message back to the
broker; the job's lease and the sweeper cover the rest (a message stuck unacknowledged).
"""

from __future__ import annotations

from celery import shared_task

from phones import sync


@shared_task(name="phones.deliver_sync_job", ignore_result=True)
def deliver_sync_job(job_id: int) -> str:
    """Push (or poll) this job, with a batch of other due ones when a backlog has built up."""
    return sync.sync_jobs_deliver([job_id])[job_id]


@shared_task(name="phones.deliver_sync_jobs", ignore_result=True)
def deliver_sync_jobs(job_ids: list[int]) -> dict[int, str]:
    """The jobs one transaction queued (up to ``SYNC_BATCH_SIZE``), delivered in batches."""
    return sync.sync_jobs_deliver(job_ids)


@shared_task(name="phones.sync_sweep", ignore_result=True)
def sync_sweep() -> int:
    """Periodic (beat): re-queue due jobs whose task was lost."""
    return sync.sync_jobs_requeue_due()


@shared_task(name="phones.sync_reconcile", ignore_result=True)
def sync_reconcile() -> dict[str, int]:
    """Periodic (beat): read linked numbers at their provider and flag drift."""
    return sync.provider_links_reconcile()
