"""Fencing of claimed jobs: a push sends nothing once its claim no longer holds.

A claim (``provider_sync.claims``) gives each job a token and a lease. Before every provider call
the push asks its fence whether the claim still holds, and the same statement renews the lease
(``phones.changes.renew_claims``); while a batch runs, the fence renews the leases of all its
jobs every third of a lease, so a job waiting its turn in the thread pool keeps its claim. A
claim fails when its lease lapsed (the job may have been claimed again meanwhile, and a newer
job of its link or number may have gone ahead) or when a newer job superseded it: the push then
raises ``CallWithdrawn`` before the request, and the recording stores its attempts only.

Why this holds: a job is claimable only when no other claim of its link or number holds a lease
(``claims._blocked``); a request is sent only with more than two provider timeouts of lease left
(or just renewed to a full lease), and it lasts at most one timeout, so the lease outlasts it.
That holds for a claim a change took at commit too (``UnitOfWork.claim_lone_job``: three
timeouts, so its first request goes without a renewal when its message arrives within one). So
two pushes to one provider number never overlap, and no job writes once a newer job of its link
has been claimed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import connections
from django.utils import timezone

from phones.changes import renew_claims
from provider_sync.adapters import Call, CallWithdrawn
from provider_sync.claims import Claim

logger = logging.getLogger("phones.sync")

JOB_HEADER = "X-Sync-Job"
CLAIM_HEADER = "X-Sync-Claim"


def _lease() -> timedelta:
    return timedelta(seconds=settings.SYNC_LEASE_SECONDS)


def _margin() -> timedelta:
    """How much lease a request needs left to be sent without asking the database: the longest a
    request may take (the provider timeout), twice, for the clocks of other workers."""
    return timedelta(seconds=2 * settings.PROVIDER_TIMEOUT_SECONDS)


def _renew(job_ids: list[int], token: UUID) -> tuple[set[int], datetime]:
    now = timezone.now()
    until = now + _lease()
    return renew_claims(job_ids, token, until=until, now=now), until


def _withdrawn(claim: Claim) -> CallWithdrawn:
    return CallWithdrawn(
        f"claim of sync job {claim.job_id} lost (lease lapsed or superseded): nothing more is sent",
        codes=("CLAIM_LOST",),
        provider=claim.provider,
    )


class Fence:
    """The claims of one batch (usually one claim's jobs; several claims' work too): checked
    before every provider call, renewed while it runs.

    A check costs nothing while the job's lease, as this worker wrote it, has more than
    ``_margin()`` left: nobody else may claim the job or a newer one of its link or number until
    it lapses. Past that, the check renews the lease in the database, which fails if the claim was
    lost (lapsed and taken, or superseded). Used as a context manager around the batch's pushes;
    database work runs on the fence's own thread with one connection, closed when the batch ends,
    so the pool's threads hold no connection.
    """

    def __init__(self, claims: list[Claim]) -> None:
        self._tokens = {claim.job_id: claim.token for claim in claims}
        self._deadlines = {claim.job_id: claim.lease_until for claim in claims}
        self._held = set(self._tokens)
        self._lock = threading.Lock()
        self._requests: queue.Queue[tuple[int, Future[bool]] | tuple[()] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="sync-fence", daemon=True)

    def __enter__(self) -> Fence:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._requests.put(None)
        self._thread.join()

    def call(self, claim: Claim) -> Call:
        """What the adapter sends with each request of ``claim``'s push, and its check."""

        def check() -> None:
            with self._lock:
                if claim.job_id in self._held and timezone.now() + _margin() < self._deadlines[claim.job_id]:
                    return
            held: Future[bool] = Future()
            self._requests.put((claim.job_id, held))
            if not held.result(timeout=settings.SYNC_LEASE_SECONDS):
                raise _withdrawn(claim)

        return Call(headers=job_headers(claim), check=check)

    def _renewed(self, job_ids: list[int], token: UUID) -> set[int]:
        held, until = _renew(job_ids, token)
        with self._lock:
            for job_id in job_ids:
                if job_id in held:
                    self._deadlines[job_id] = until
                else:
                    self._held.discard(job_id)
        return held

    def _renew_all(self) -> None:
        by_token: dict[UUID, list[int]] = {}
        with self._lock:
            for job_id in sorted(self._held):
                by_token.setdefault(self._tokens[job_id], []).append(job_id)
        for token, job_ids in by_token.items():
            self._renewed(job_ids, token)

    def _serve(self) -> None:
        interval = settings.SYNC_LEASE_SECONDS / 3
        due = time.monotonic() + interval
        try:
            while True:
                try:
                    item = self._requests.get(timeout=max(0.0, due - time.monotonic()))
                except queue.Empty:
                    item = ()  # nothing asked: time to renew
                if item is None:
                    return
                try:
                    if time.monotonic() >= due:
                        self._renew_all()
                        due = time.monotonic() + interval
                    if item:
                        job_id, answer = item
                        with self._lock:
                            still = job_id in self._held
                        answer.set_result(still and job_id in self._renewed([job_id], self._tokens[job_id]))
                except Exception as exc:  # the database is unreachable: nothing is held for sure
                    logger.warning("sync fence cannot renew claims: %s: %s", type(exc).__name__, exc)
                    with self._lock:
                        self._held.clear()
                    if item:
                        item[1].set_result(False)
        finally:
            connections.close_all()  # this thread's own connection


def job_headers(claim: Claim) -> dict[str, str]:
    """Headers that name the job and its claim in the provider's logs (and the simulator's)."""
    return {JOB_HEADER: str(claim.job_id), CLAIM_HEADER: claim.token.hex}


def inline_call(claim: Claim) -> Call:
    """A single job pushed on the calling thread: the same check, with that thread's connection."""
    deadline = [claim.lease_until]

    def check() -> None:
        if timezone.now() + _margin() < deadline[0]:
            return
        held, until = _renew([claim.job_id], claim.token)
        if claim.job_id not in held:
            raise _withdrawn(claim)
        deadline[0] = until

    return Call(headers=job_headers(claim), check=check)
