"""The chaos harness of the provider sync, driven by ``test_chaos.py``.

The promise under test: *no committed change is ever lost or overwritten by an older one,
whatever the broker, the workers and the providers do.* One ``random.Random(seed)`` decides
everything the harness does (the phones, the API changes and their order, the faults, when a
worker is killed, when the broker goes away, which provider turns slow), so a failure can be
replayed with ``CHAOS_SEED=<seed>``; the wall clock still decides how the stack interleaves.

The stack is real: the test PostgreSQL database, a ``redis-server`` of the run's own (stopped and
started again on the same port during the run), two ``celery -A backoffice worker`` processes
(solo pool, one of them SIGKILLed and restarted) and ``celery beat`` (sweeper every second), the
provider simulator (its ``/_sim/`` control API over HTTP: faults, numbers, request log,
callbacks) and the API over HTTP (pytest-django's ``live_server``) with operators' JWTs.

What is checked afterwards (``ChaosRun.check``), each as a named property:

``api``              every API write answered 2xx, during the broker outage too
``committed``        the database holds what the API accepted (phones, links)
``provider-state``   every link's number at its provider holds the link's desired state
``released``         numbers a link moved away from (or unlinked) hold no services
``attribution``      every provider request names its job and claim (X-Sync-Job, X-Sync-Claim)
``push-after-success``  no request of a synced job started after its ``finished_at``
``older-after-newer``   no write of a job ended after a newer job of its link was first claimed
``overlap``          no two requests of different (job, claim) pairs overlap on one number
``outcomes``         every job synced, superseded, or failed by an injected permanent error
``audit``            one outcome entry per finished job, naming the job's operator; the audit
                     chain verifies
``callbacks``        no Sinch callback answered 5xx, went unanswered, or met a database error
``processes``        no worker or beat exited by itself
``paths``            both delivery paths ran: pushes on a claim taken at commit, the workers' claims
``convergence``      every job final within the bounded wait

On failure the report names the property, the job or number, and the seed; the logs (workers,
beat, redis), the simulator's request log and callbacks, and the jobs table are kept under
``test-output/chaos-<seed>/`` at the repository root.
"""

from provider_sync.tests.chaos.config import CI, ChaosConfig
from provider_sync.tests.chaos.run import ChaosRun

__all__ = ["CI", "ChaosConfig", "ChaosRun"]
