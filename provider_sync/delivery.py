"""Delivery of the outbox's sync jobs: claim, push, record.

Delivery of a batch is three steps, and only the middle one talks to the provider:

1. ``claim_jobs``: a short transaction locks due jobs (``SKIP LOCKED``), checks each is first in
   line for its link, marks them claimed with a lease and a token, and commits.
2. ``push``: the adapter calls, outside any transaction, concurrently for a batch; each request
   is sent only while its job's claim holds (``provider_sync.fencing``).
3. ``recording.record``: a short transaction stores every HTTP attempt, moves the jobs and links
   to their new state and writes the outcome audit entries (in the name of the operator whose
   change caused each job). A worker whose lease was lost only adds its attempts.

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

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction

from phones.models import SyncReason
from phones.numbers import is_possible_e164
from provider_sync.adapters import Call, PermanentProviderError, ProviderError, RetryableProviderError
from provider_sync.claims import Claim, Outcome, claim_jobs
from provider_sync.clients import build_adapter, settings_object
from provider_sync.fencing import Fence, inline_call
from provider_sync.recording import record

logger = logging.getLogger("phones.sync")

# Jobs that take services away from a number: they go even to a number we would not link now.
RELEASES = (SyncReason.RELEASE, SyncReason.UNLINK)


def _push_one(claim: Claim, call: Call) -> Outcome:
    """One claimed job's provider call(s), each checked by ``call``; errors come back as values,
    never raised."""
    if not is_possible_e164(claim.number) and claim.reason not in RELEASES:
        # libphonenumber finds the number impossible: no provider would take it, and it is the
        # phone that must change. Fail the job with the reason instead of sending it.
        return (
            claim,
            None,
            PermanentProviderError(
                f"{claim.number or 'no number'} is not a possible phone number for its country; "
                "nothing was sent to the provider",
                codes=("IMPOSSIBLE_NUMBER",),
                provider=claim.provider,
            ),
        )
    desired = settings_object(claim.provider, claim.desired)
    previous = settings_object(claim.provider, claim.previous)
    try:
        adapter = build_adapter(claim.provider)
    except (KeyError, ValueError) as exc:
        return claim, None, PermanentProviderError(f"provider not configured: {exc}", provider=claim.provider)
    try:
        if claim.mode == "poll":
            return claim, adapter.poll_provisioning(claim.number, desired, call=call), None
        return claim, adapter.push(claim.number, desired, previous, call=call), None
    except ProviderError as error:
        return claim, None, error
    except Exception as exc:
        # A bug or an unexpected answer: keep it visible on the job and retry with backoff.
        logger.exception("unexpected error pushing sync job %s", claim.job_id)
        return (
            claim,
            None,
            RetryableProviderError(
                f"unexpected error: {type(exc).__name__}: {exc}", attempts=[], provider=claim.provider
            ),
        )


_pusher: ThreadPoolExecutor | None = None
_pusher_lock = threading.Lock()


def push(claims: Sequence[Claim]) -> list[Outcome]:
    """The provider calls of claimed jobs, outside any transaction (a slow provider holds no
    lock); a batch concurrently (provider calls are I/O; the adapters' clients are thread-safe).
    Every request is fenced: sent only while its job's claim holds (``provider_sync.fencing``).

    The pool is made lazily, hence in each worker process after a prefork worker forked.
    """
    global _pusher
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("provider calls never run inside a database transaction")
    if len(claims) <= 1:
        return [_push_one(claim, inline_call(claim)) for claim in claims]
    with Fence(list(claims)) as fence:
        if settings.SYNC_PUSH_THREADS <= 1:
            return [_push_one(claim, fence.call(claim)) for claim in claims]
        with _pusher_lock:
            if _pusher is None:
                _pusher = ThreadPoolExecutor(max_workers=settings.SYNC_PUSH_THREADS, thread_name_prefix="sync-push")
        return list(_pusher.map(lambda claim: _push_one(claim, fence.call(claim)), claims))


def deliver_claimed(claim: Claim) -> str:
    """What the task of a job claimed at commit runs: push it under that claim and record it;
    its new status, or ``"stale"`` when the claim was lost meanwhile (its lease lapsed and the job
    was claimed again). No statement before the provider call."""
    return record(push([claim]))[0]


def deliver(job_ids: Sequence[int], *, max_batches: int = 64) -> dict[int, str]:
    """What the delivery tasks run: while any of ``job_ids`` waits, claim the oldest due jobs in
    batches of ``SYNC_BATCH_SIZE``, push each batch outside any transaction and record it.

    Oldest first, so the task's jobs are reached; a task that finds a backlog drains it (one
    message then does the work of many; the others find their jobs taken by one statement).
    The claim is the only statement before the provider call: it finds out itself whether one
    of ``job_ids`` is still claimable. Stops when every one of ``job_ids`` was taken or none is
    claimable any more (taken elsewhere, done, not due, or gone), when nothing is claimable (a
    link's turn has not come: the job ahead queues it when done), or after ``max_batches``.
    Returns each of ``job_ids``' new status, ``"skipped"`` where this task did not take it.
    """
    statuses = dict.fromkeys(job_ids, "skipped")
    waiting = list(statuses)
    for _ in range(max_batches):
        # One statement: the oldest due batch, taken only while one of ours is still claimable.
        claims = claim_jobs(waiting[0], limit=settings.SYNC_BATCH_SIZE, among=waiting)
        if not claims:
            break
        for claim, status in zip(claims, record(push(claims)), strict=True):
            if claim.job_id in statuses:
                statuses[claim.job_id] = status
        taken = {claim.job_id for claim in claims}
        waiting = [job_id for job_id in waiting if job_id not in taken]
        if not waiting:
            break
    return statuses
