"""Recording pushed jobs on a thread of the worker process, so that the next job's claim and push
do not wait for the last one's bookkeeping.

A worker process delivers one message at a time: without this, every job's record (a transaction
of ~6 statements and the outcome audit entry) sits between its push and the next job's claim, and
at a steady rate of changes the worker spends more time recording than talking to the provider
(its queue, hence the changes' latency, builds up while the provider waits). The delivery task
hands its outcomes to the process's recorder instead and returns; the recorder's thread records
whatever has arrived, several outcomes in one transaction when they came together
(``recording.record`` writes every table once per batch), on its own database connection.

Why this loses nothing: a job stays claimed (its lease, ``SYNC_LEASE_SECONDS``) until its record
commits. If the process dies before that, the lease lapses and the sweeper queues the job again;
its push is repeated (the adapters read the number first and write only what differs) and its
record then made once: ``record`` refuses a claim that is not the job's current one, so a late
record of an older claim never overwrites a newer one. On a warm shutdown the worker waits for
the recorder (``flush``, from the worker's shutdown signals). The delivery's tests and the
management commands record in line (``delivery.deliver``'s default).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections

from provider_sync.claims import Outcome
from provider_sync.recording import record

logger = logging.getLogger("phones.sync")

# A failed record (the database restarting, say) is tried again this many times, a second apart:
# past that the jobs' leases lapse anyway, and the sweeper takes them up again.
RECORD_TRIES = 5


class Recorder:
    """One per worker process: a queue of outcomes and the thread that records them.

    ``submit`` never blocks on the database; ``flush`` waits until everything submitted so far is
    recorded (or given up). The thread is started on the first ``submit``, hence after a prefork
    worker forked, and is a daemon: a process that exits without ``flush`` leaves its jobs to
    their leases, as a killed one does.
    """

    def __init__(self, write: Callable[[list[Outcome]], list[str]] = record) -> None:
        self._write = write
        self._outcomes: queue.Queue[Outcome] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self._outcomes.put(outcome)
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="sync-recorder", daemon=True)
                self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every outcome submitted so far is recorded; ``False`` if ``timeout`` ran out."""
        done = threading.Event()

        def wait() -> None:
            self._outcomes.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _batch(self) -> list[Outcome]:
        """What has arrived, up to a batch, with no job twice (a job claimed again while its older
        claim's outcome waits here: the two go in separate records, in order)."""
        first = self._outcomes.get()
        batch, seen = [first], {first[0].job_id}
        while len(batch) < settings.SYNC_BATCH_SIZE:
            try:
                outcome = self._outcomes.get_nowait()
            except queue.Empty:
                break
            if outcome[0].job_id in seen:
                self._outcomes.put(outcome)  # after the others: recorded in a later batch
                self._outcomes.task_done()
                break
            batch.append(outcome)
            seen.add(outcome[0].job_id)
        return batch

    def _serve(self) -> None:
        while True:
            batch = self._batch()
            try:
                self._record(batch)
            finally:
                for _ in batch:
                    self._outcomes.task_done()

    def _record(self, batch: list[Outcome]) -> None:
        for attempt in range(1, RECORD_TRIES + 1):
            close_old_connections()  # a connection the database dropped is replaced, not reused
            try:
                self._write(batch)
                return
            except Exception:
                logger.exception(
                    "could not record sync jobs %s (try %s of %s)",
                    [claim.job_id for claim, _, _ in batch],
                    attempt,
                    RECORD_TRIES,
                )
                connections.close_all()
                time.sleep(1.0)
        logger.error(
            "sync jobs %s left to their leases: the sweeper queues them again",
            [claim.job_id for claim, _, _ in batch],
        )


_recorder: Recorder | None = None
_recorder_lock = threading.Lock()


def process_recorder() -> Recorder:
    """This process's recorder (made on first use: after a prefork worker forked)."""
    global _recorder
    with _recorder_lock:
        if _recorder is None:
            _recorder = Recorder()
        return _recorder


def flush_process_recorder(timeout: float) -> None:
    """Wait for this process's recorder, if it has one (worker shutdown)."""
    if _recorder is not None and not _recorder.flush(timeout):
        logger.error("sync recorder did not finish in %.0f s: its jobs are left to their leases", timeout)
