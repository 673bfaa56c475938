"""Provider sync fixtures: an HTTP provider simulator on loopback, short timings, roles, links.

Delivery tests run the real adapters against the simulator over HTTP. They are transactional
(``transaction=True``): provider calls refuse to run inside a transaction, and the worker
subprocess tests need committed rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from audit.models import Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from simulator.server import ProviderSimulator, make_simulator

SIM_PROVISIONING_SECONDS = 0.3
CTX = AuditContext(origin=Origin.API, request_id="req-sync")
# Numbers used across the sync tests: the phones' E.164 forms.
BR_NUMBER = {"account_id": 7001, "number": "91234-5678", "type": "MOBILE", "area_code": 11, "country_code": 55}
BR_E164 = "+5511912345678"
US_NUMBER = {"account_id": 7002, "number": "2025550143", "type": "MOBILE", "area_code": None, "country_code": 1}
US_E164 = "+12025550143"


@pytest.fixture(scope="session")
def simulator() -> Iterator[ProviderSimulator]:
    sim = make_simulator("127.0.0.1", 0, provisioning_seconds=SIM_PROVISIONING_SECONDS).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: ProviderSimulator) -> Iterator[ProviderSimulator]:
    simulator.reset()
    simulator.configure(provisioning_seconds=SIM_PROVISIONING_SECONDS)
    yield simulator
    simulator.reset()


SYNC_TEST_SETTINGS: dict[str, Any] = {
    "PROVIDER_TIMEOUT_SECONDS": 1.0,
    "SYNC_MAX_ATTEMPTS": 3,
    "SYNC_BACKOFF_BASE_SECONDS": 0.2,
    "SYNC_BACKOFF_MAX_SECONDS": 1.0,
    "SYNC_LEASE_SECONDS": 5.0,
    "SYNC_PROVISIONING_POLL_SECONDS": 0.2,
    "SYNC_SWEEP_GRACE_SECONDS": 0.0,
    "SINCH_CALLBACK_SECRET": "sim-callback-secret",
}


@pytest.fixture
def sync_settings(settings: Any, sim: ProviderSimulator) -> Any:
    """Adapters pointed at the simulator, with the short timings of the test run."""
    settings.SINCH_NUMBERS_BASE_URL = sim.base_url
    settings.PLIVO_BASE_URL = sim.base_url
    settings.SINCH_PROJECT_ID = sim.sinch_project_id
    settings.SINCH_KEY_ID = sim.sinch_key_id
    settings.SINCH_KEY_SECRET = sim.sinch_key_secret
    settings.PLIVO_AUTH_ID = sim.plivo_auth_id
    settings.PLIVO_AUTH_TOKEN = sim.plivo_auth_token
    for name, value in SYNC_TEST_SETTINGS.items():
        setattr(settings, name, value)
    return settings


@pytest.fixture
def claim_in_worker(settings: Any) -> None:
    """Jobs stay pending at commit and are claimed by whoever delivers them: for tests of the
    worker's own claim (its rules, batches, plans, fencing), which a change claiming its job at
    commit (``SYNC_CLAIM_AT_COMMIT``, the default) would otherwise take first."""
    settings.SYNC_CLAIM_AT_COMMIT = False


@pytest.fixture
def roles_seeded(transactional_db: None) -> None:
    # Transactional tests flush every table, the roles the migration seeded included.
    from backoffice.roles import seed_role_matrix

    seed_role_matrix()


# The messages of jobs claimed at commit that ``queued`` captured, by job id: ``claim_one`` takes
# a job's claim from there, as the worker takes it from the message.
CLAIMED_AT_COMMIT: dict[int, dict[str, Any]] = {}


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, float | None]]]:
    """Capture what would be published to the broker (in-process delivery tests); a job its
    change claimed before committing is captured with its claim (``CLAIMED_AT_COMMIT``)."""
    from phones import outbox

    calls: list[tuple[int, float | None]] = []

    def record(job_id: int, countdown: float | None = None) -> bool:
        calls.append((job_id, countdown))
        return True

    def record_many(job_ids: list[int]) -> int:
        calls.extend((job_id, None) for job_id in job_ids)
        return len(job_ids)

    def record_claimed(self: outbox.ClaimedPush) -> None:
        CLAIMED_AT_COMMIT[self.message["job"]["id"]] = self.message
        calls.append((self.message["job"]["id"], None))

    CLAIMED_AT_COMMIT.clear()
    monkeypatch.setattr(outbox, "queue_delivery", record)
    monkeypatch.setattr(outbox, "queue_deliveries", record_many)
    monkeypatch.setattr(outbox.ClaimedPush, "__call__", record_claimed)
    yield calls
    CLAIMED_AT_COMMIT.clear()


@pytest.fixture
def operator(roles_seeded: None) -> Any:
    from backoffice.tests.factories import OperatorFactory

    return OperatorFactory(roles=["backoffice-operator"], email="sync.operator@bank.example")


@pytest.fixture
def make_linked_phone(operator: Any) -> Callable[..., Any]:
    """A phone created and linked through the services, its simulator number seeded."""
    from phones.services import phone_create
    from provider_sync import links

    def make(
        sim: ProviderSimulator,
        provider: str,
        settings: dict[str, Any],
        *,
        phone: dict[str, Any] | None = None,
        remote: dict[str, Any] | None = None,
        actor: Any = None,
    ) -> Any:
        values = dict(phone or (BR_NUMBER if provider == "sinch" else US_NUMBER))
        created = phone_create(actor=Actor.of(actor or operator), context=CTX, **values)
        sim.seed(provider, created.e164, **(remote or {}))
        links.provider_link_set(
            actor=Actor.of(actor or operator),
            context=CTX,
            account_id=created.account_id,
            phone_id=created.pk,
            provider=provider,
            settings=settings,
        )
        created.refresh_from_db()
        return created

    return make


def linked_plivo_phones(
    sim: ProviderSimulator,
    make_linked_phone: Callable[..., Any],
    count: int,
    *,
    account: int,
    numbers: str,
    alias: str,
) -> list[Any]:
    """``count`` phones linked to Plivo: accounts from ``account``, numbers ``numbers`` + two
    digits, aliases ``alias-0``, ``alias-1``..."""
    return [
        make_linked_phone(
            sim,
            "plivo",
            {"alias": f"{alias}-{i}"},
            phone={"account_id": account + i, "number": f"{numbers}{i:02d}", "type": "MOBILE", "area_code": 212},
        )
        for i in range(count)
    ]


# One job through the three steps of delivery, as the tests drive them one at a time (the worker
# runs them on batches: ``provider_sync.delivery.deliver``).


def claim_one(job_id: int) -> Any:
    """The claim its change took on this job as it committed (once, as its message would give
    it), else claim it alone; None when it is not due, not free or final."""
    from provider_sync.claims import claim_from_message, claim_jobs

    if job_id in CLAIMED_AT_COMMIT:
        return claim_from_message(CLAIMED_AT_COMMIT.pop(job_id))
    claims = claim_jobs(job_id)
    return claims[0] if claims else None


def push_one(claim: Any) -> tuple[Any, Any]:
    """The provider call(s) of one claim: (result, error)."""
    from provider_sync.delivery import push

    ((_, result, error),) = push([claim])
    return result, error


def record_one(claim: Any, result: Any, error: Any) -> str:
    """Record one claim's outcome; its new status, or "stale"."""
    from provider_sync.recording import record

    return record([(claim, result, error)])[0]


def run_job(job_id: int) -> str:
    """Claim, push (outside any transaction) and record this one job; "skipped" when it could
    not be claimed."""
    claim = claim_one(job_id)
    if claim is None:
        return "skipped"
    return record_one(claim, *push_one(claim))


def run_due(max_rounds: int = 20) -> list[str]:
    """Deliver every open job in-process, as a worker would, making retries due at once."""
    from django.utils import timezone

    from phones.models import OPEN_JOB_STATUSES, SyncJob

    outcomes = []
    for round_number in range(max_rounds):
        if round_number:
            time.sleep(0.1)  # let the simulator's scheduled provisioning move on
        open_jobs = list(SyncJob.objects.filter(status__in=OPEN_JOB_STATUSES).order_by("id"))
        if not open_jobs:
            break
        SyncJob.objects.filter(pk__in=[j.pk for j in open_jobs]).update(next_attempt_at=timezone.now())
        for job in open_jobs:
            outcomes.append(run_job(job.pk))
    return outcomes


def writes(sim: ProviderSimulator, provider: str | None = None) -> list[dict[str, Any]]:
    """Write requests the simulator recorded (PATCH for Sinch, POST for Plivo)."""
    return [r for r in sim.recorded_requests(provider) if r["method"] in ("PATCH", "POST")]
