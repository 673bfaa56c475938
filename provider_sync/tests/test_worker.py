"""End to end through real services: committed rows in PostgreSQL, tasks through Redis, a real
``celery -A backoffice worker`` process, the provider simulator over HTTP on loopback.

The worker uses a dedicated Redis database (``SYNC_TEST_REDIS_DB``, default 11), flushed before
each test, and the pytest test database. The tests read committed rows as the worker writes
them and check, on the simulator's recorded requests, that no change is lost and that nothing
is written to the provider again once a job succeeded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry, AuditEvent
from backoffice.actor import Actor
from backoffice.celery import app as celery_app
from phones.models import ProviderLink, SyncAttempt, SyncJob, SyncJobStatus, SyncState
from provider_sync import links
from provider_sync.tests.conftest import BR_E164, CTX, SYNC_TEST_SETTINGS, US_E164, writes

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
CLOSED_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: publishing fails at once


def _test_broker_url() -> str:
    parsed = urlparse(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return urlunparse(parsed._replace(path=f"/{os.environ.get('SYNC_TEST_REDIS_DB', '11')}"))


def _use_broker(url: str) -> None:
    """Point this process's Celery app at ``url`` (fresh connections, so queues are declared)."""
    celery_app.conf.broker_url = url
    # The write and read URLs are resolved from broker_url when the app is configured: set them too.
    celery_app.conf.broker_write_url = celery_app.conf.broker_read_url = url
    celery_app.conf.broker_transport_options = {}
    # Drop (not close) the pools: kombu shares them process-wide by URL, and a new URL gets
    # new ones; the old connections are released when collected.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def wait_for(predicate: Callable[[], Any], timeout: float = 20, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")


class Workers:
    """Celery worker subprocesses (solo pool), each in its own process group."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *, beat: bool = False, **overrides: Any) -> subprocess.Popen[bytes]:
        name = uuid.uuid4().hex[:8]
        log = self.logs / f"worker-{name}.log"
        cmd = [str(CELERY), "-A", "backoffice", "worker", "-P", "solo", "-l", "INFO", "-n", f"sync-test-{name}@%h"]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        if beat:
            cmd += ["-B", "-s", str(self.logs / f"beat-{name}")]
        env = {**self.env, **{key: str(value) for key, value in overrides.items()}}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append((proc, log))
        wait_for(lambda: b" ready." in log.read_bytes() or proc.poll() is not None, 30, "the worker to be ready")
        assert proc.poll() is None, log.read_text()
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [proc for proc, _ in self.procs if proc.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop_all(self) -> None:
        for proc in self.alive():
            self.kill(proc, signal.SIGTERM)

    def log_tail(self) -> str:
        return "\n".join(log.read_text()[-3000:] for _, log in self.procs[-2:])


@pytest.fixture(scope="module")
def workers(django_db_setup: None, django_db_blocker: Any, simulator: Any, tmp_path_factory: Any) -> Iterator[Workers]:
    database = urlparse(os.environ["DATABASE_URL"])
    test_db = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DATABASE_URL": urlunparse(database._replace(path=f"/{test_db}")),
        "CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": _test_broker_url(),
        "SINCH_NUMBERS_BASE_URL": simulator.base_url,
        "PLIVO_BASE_URL": simulator.base_url,
        "SINCH_PROJECT_ID": simulator.sinch_project_id,
        "SINCH_KEY_ID": simulator.sinch_key_id,
        "SINCH_KEY_SECRET": simulator.sinch_key_secret,
        "PLIVO_AUTH_ID": simulator.plivo_auth_id,
        "PLIVO_AUTH_TOKEN": simulator.plivo_auth_token,
        "SYNC_SWEEP_INTERVAL_SECONDS": "1",
        **{key: str(value) for key, value in SYNC_TEST_SETTINGS.items()},
    }
    pool = Workers(env, tmp_path_factory.mktemp("workers"))
    yield pool
    pool.stop_all()


@pytest.fixture
def broker() -> Iterator[str]:
    """This process publishes to the test Redis database, flushed for each test."""
    url = _test_broker_url()
    original = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    _redis(url).flushdb()
    _use_broker(url)
    yield url
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = original
    _use_broker(original[0])
    celery_app.conf.broker_transport_options = original[1]


@pytest.fixture
def worker(workers: Workers, broker: str, sync_settings: Any) -> Workers:
    if not workers.alive():
        workers.start()
    return workers


def job_done(job_id: int) -> Callable[[], SyncJob | None]:
    def check() -> SyncJob | None:
        job = SyncJob.objects.get(pk=job_id)
        return job if job.status in (SyncJobStatus.SYNCED, SyncJobStatus.FAILED) else None

    return check


def latest_job() -> SyncJob:
    return SyncJob.objects.order_by("-id").first()


def settle(make_linked_phone: Callable[..., Any], sim: Any, provider: str, values: dict[str, Any], **kw: Any) -> Any:
    """A linked phone whose first sync (run by the worker) is done; requests cleared."""
    phone = make_linked_phone(sim, provider, values, **kw)
    job = wait_for(job_done(latest_job().pk), message="the link's first sync")
    assert job.status == SyncJobStatus.SYNCED, job.last_error
    sim.clear_requests()
    return phone


def relink(phone: Any, operator: Any, provider: str, settings: dict[str, Any]) -> None:
    """Change a settled link's settings (queues a new job)."""
    links.provider_link_set(
        actor=Actor.of(operator),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider=provider,
        settings=settings,
    )


def no_more_requests(sim: Any, seconds: float = 1.5) -> None:
    """Nothing reaches the provider after success (duplicate tasks, sweeps)."""
    count = len(sim.recorded_requests())
    time.sleep(seconds)
    assert len(sim.recorded_requests()) == count, sim.recorded_requests()[count:]


def outcome_entry(phone: Any, event: str) -> AuditEntry:
    entry = AuditEntry.objects.filter(phone=phone, event=event).order_by("-id").first()
    assert entry is not None, f"no {event} entry"
    return entry


# --- End to end: API and admin -------------------------------------------------------------


def test_api_change_to_a_linked_phone_reaches_the_provider(worker, sim, make_linked_phone, operator, api_client_for):
    phone = settle(
        make_linked_phone,
        sim,
        "sinch",
        {"display_name": "Acme", "sms_service_plan_id": "plan-a", "voice_type": "RTC", "voice_target_id": "app-1"},
    )
    assert ProviderLink.objects.get().sync_state == SyncState.SYNCED
    assert AuditEntry.objects.filter(phone=phone, event=AuditEvent.PHONE_PROVISIONING_FINISHED).count() == 1

    response = api_client_for(operator).patch(
        f"/accounts/v1/accounts/{phone.account_id}/phones/{phone.pk}", {"active": False}, format="json"
    )
    assert response.status_code == 200, response.content
    job = wait_for(job_done(latest_job().pk), message="the inactivation sync")
    assert (job.status, job.reason, job.attempts) == (SyncJobStatus.SYNCED, "inactivation", 1)
    (patch,) = writes(sim, "sinch")
    assert patch["status"] == 200
    assert patch["body"] == {
        "smsConfiguration": {"servicePlanId": ""},
        "voiceConfiguration": {"type": "RTC", "appId": ""},
    }
    state = sim.number_state("sinch", BR_E164)
    assert state["smsConfiguration"]["servicePlanId"] == "" and state["voiceConfiguration"]["appId"] == ""
    link = ProviderLink.objects.get()
    assert link.sync_state == SyncState.SYNCED and link.last_synced_at >= job.created_at

    change = outcome_entry(phone, AuditEvent.PHONE_CHANGE)
    assert change.origin == "API" and change.changes == {"active": [True, False]}
    outcome = outcome_entry(phone, AuditEvent.PHONE_SYNC_SUCCEEDED)
    assert outcome.id > change.id and outcome.prev_hash == change.hash
    assert (outcome.origin, outcome.operator_email, outcome.operator_roles) == (
        "TASK",
        operator.email,
        ["backoffice-operator"],
    )
    assert outcome.payload["object"]["job_id"] == job.pk and outcome.payload["object"]["reason"] == "inactivation"
    no_more_requests(sim)


def test_admin_link_change_and_resync_action_reach_the_provider(worker, sim, make_linked_phone, operator, client):
    phone = settle(make_linked_phone, sim, "plivo", {"alias": "acme", "app_id": "app-1"})
    link = ProviderLink.objects.get()
    client.force_login(operator)

    # The link's admin page: the form posts through provider_link_set.
    form = {
        "provider": "plivo",
        "remote_number": "",
        "plivo_alias": "acme-renamed",
        "plivo_app_id": "app-2",
        "plivo_subaccount": "",
        "plivo_compliance_application_id": "",
        "_save": "Save",
    }
    response = client.post(reverse("admin:phones_providerlink_change", args=[link.pk]), form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    job = wait_for(job_done(latest_job().pk), message="the admin link change sync")
    assert (job.status, job.reason, job.origin) == (SyncJobStatus.SYNCED, "link_change", "CRM")
    assert [r["body"] for r in writes(sim, "plivo")] == [{"alias": "acme-renamed", "app_id": "app-2"}]
    state = sim.number_state("plivo", US_E164)
    assert (state["alias"], state["application"].rstrip("/").rsplit("/", 1)[-1]) == ("acme-renamed", "app-2")
    changed = outcome_entry(phone, AuditEvent.PHONE_LINK_CHANGE)
    assert changed.origin == "CRM" and changed.changes["settings"][1]["alias"] == "acme-renamed"
    outcome = outcome_entry(phone, AuditEvent.PHONE_SYNC_SUCCEEDED)
    assert outcome.payload["object"]["job_id"] == job.pk and outcome.payload["email"] == operator.email

    # The re-sync action of the link list: a fresh push (GETs only: nothing differs).
    sim.clear_requests()
    response = client.post(
        reverse("admin:phones_providerlink_changelist"), {"action": "resync_links", "_selected_action": [link.pk]}
    )
    assert response.status_code == 302
    job = wait_for(job_done(latest_job().pk), message="the admin re-sync")
    assert (job.status, job.reason) == (SyncJobStatus.SYNCED, "resync")
    assert [r["method"] for r in sim.recorded_requests()] == ["GET"] and writes(sim) == []
    requested = outcome_entry(phone, AuditEvent.PHONE_SYNC_REQUESTED)
    assert requested.origin == "CRM" and requested.payload["object"]["job_id"] == job.pk
    assert outcome_entry(phone, AuditEvent.PHONE_SYNC_SUCCEEDED).payload["object"]["job_id"] == job.pk


def test_api_resync_endpoint(worker, sim, make_linked_phone, make_operator, api_client_for):
    phone = settle(make_linked_phone, sim, "plivo", {"alias": "acme"})
    sim.seed("plivo", US_E164, alias="changed-at-provider")  # the provider drifted
    level1 = make_operator("itinivel1-operator", email="n1@bank.example")
    url = f"/accounts/v1/accounts/{phone.account_id}/phones/{phone.pk}/sync"
    response = api_client_for(level1).post(url)
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.json() == {"id": phone.pk, "job_id": job_id}
    job = wait_for(job_done(job_id))
    assert job.status == SyncJobStatus.SYNCED and job.operator_email == "n1@bank.example"
    assert [r["body"] for r in writes(sim, "plivo")] == [{"alias": "acme"}]
    assert outcome_entry(phone, AuditEvent.PHONE_SYNC_SUCCEEDED).operator_email == "n1@bank.example"


# --- Faults ---------------------------------------------------------------------------------


def test_500_then_200_syncs_after_a_retry(worker, sim, make_linked_phone, operator):
    phone = settle(make_linked_phone, sim, "plivo", {"alias": "acme"})
    sim.add_fault(kind="status", provider="plivo", method="POST", status=500, count=1)
    relink(phone, operator, "plivo", {"alias": "acme-2"})
    job = wait_for(job_done(latest_job().pk))
    assert (job.status, job.attempts) == (SyncJobStatus.SYNCED, 2)
    assert [r["status"] for r in writes(sim, "plivo")] == [500, 202]
    tries = list(SyncAttempt.objects.filter(job=job).values_list("try_number", "method", "response_status"))
    assert tries == [(1, "GET", 200), (1, "POST", 500), (2, "GET", 200), (2, "POST", 202), (2, "GET", 200)]
    no_more_requests(sim)


def test_429_retry_after_is_waited_for(worker, sim, make_linked_phone, operator):
    phone = settle(make_linked_phone, sim, "sinch", {"display_name": "Acme"})
    sim.add_fault(kind="rate_limit", provider="sinch", method="PATCH", retry_after=2, count=1)
    relink(phone, operator, "sinch", {"display_name": "Acme 2"})
    job = wait_for(job_done(latest_job().pk))
    assert (job.status, job.attempts) == (SyncJobStatus.SYNCED, 2)
    limited, accepted = writes(sim, "sinch")
    assert (limited["status"], accepted["status"]) == (429, 200)
    waited = datetime.fromisoformat(accepted["timestamp"]) - datetime.fromisoformat(limited["timestamp"])
    assert waited.total_seconds() >= 2.0  # the backoff alone (cap 1 s) would have been shorter
    no_more_requests(sim)


def test_hang_times_out_and_is_retried(worker, sim, make_linked_phone, operator):
    phone = settle(make_linked_phone, sim, "sinch", {"display_name": "Acme"})
    sim.add_fault(kind="hang", provider="sinch", method="PATCH", hang_seconds=3, count=1)
    relink(phone, operator, "sinch", {"display_name": "Acme 2"})
    job = wait_for(job_done(latest_job().pk))
    assert (job.status, job.attempts) == (SyncJobStatus.SYNCED, 2)
    timed_out = SyncAttempt.objects.get(job=job, try_number=1, method="PATCH")
    assert timed_out.response_status is None and timed_out.error.startswith("timeout")
    assert [r["status"] for r in writes(sim, "sinch")] == [None, 200]  # the hung one was never applied
    assert sim.number_state("sinch", phone.e164)["displayName"] == "Acme 2"
    no_more_requests(sim)


def test_400_fails_at_once_with_the_message(worker, sim, make_linked_phone, operator):
    phone = settle(make_linked_phone, sim, "sinch", {"display_name": "Acme"})
    sim.add_fault(
        kind="status",
        provider="sinch",
        method="PATCH",
        status=400,
        count=None,
        body={"error": {"code": 400, "message": "displayName is reserved", "status": "INVALID_ARGUMENT"}},
    )
    relink(phone, operator, "sinch", {"display_name": "Reserved"})
    job = wait_for(job_done(latest_job().pk))
    assert (job.status, job.attempts, job.last_status, job.last_error) == (
        SyncJobStatus.FAILED,
        1,
        400,
        "displayName is reserved",
    )
    link = ProviderLink.objects.get()
    assert (link.sync_state, link.last_error) == (SyncState.FAILED, "displayName is reserved")
    failed = outcome_entry(phone, AuditEvent.PHONE_SYNC_FAILED)
    assert failed.origin == "TASK" and failed.payload["object"]["message"] == "displayName is reserved"
    assert len(writes(sim, "sinch")) == 1
    no_more_requests(sim)


def test_broker_down_at_commit_then_the_sweeper_delivers(
    worker, broker, sim, make_linked_phone, operator, api_client_for
):
    phone = settle(make_linked_phone, sim, "plivo", {"alias": "acme", "app_id": "app-1"})
    queue = _redis(broker)
    _use_broker(CLOSED_BROKER)  # Redis "down" as the change commits
    response = api_client_for(operator).patch(
        f"/accounts/v1/accounts/{phone.account_id}/phones/{phone.pk}", {"active": False}, format="json"
    )
    assert response.status_code == 200  # the change is not held up by the broker
    job = latest_job()
    # Claimed as it committed (SYNC_CLAIM_AT_COMMIT); its message was lost with the broker.
    assert job.reason == "inactivation" and job.status == SyncJobStatus.IN_PROGRESS and job.claim_token
    phone.refresh_from_db()
    assert phone.active is False and outcome_entry(phone, AuditEvent.PHONE_CHANGE)
    time.sleep(1)
    assert queue.llen("celery") == 0 and latest_job().status == SyncJobStatus.IN_PROGRESS
    assert writes(sim) == []

    _use_broker(broker)  # Redis is back: the periodic sweep finds the job once its claim lapsed
    from provider_sync.tasks import sync_sweep

    # Not before: a message that reached the broker after all may be pushing on that claim.
    assert job.locked_until > timezone.now() + timedelta(seconds=0.5) and sync_sweep() == 0
    time.sleep((job.locked_until - timezone.now()).total_seconds() + 0.1)
    assert sync_sweep() == 1
    job = wait_for(job_done(job.pk), message="the swept job")
    assert job.status == SyncJobStatus.SYNCED
    assert [r["body"] for r in writes(sim, "plivo")] == [{"app_id": ""}]
    assert sim.number_state("plivo", US_E164)["application"] is None
    assert sync_sweep() == 0
    no_more_requests(sim)


def test_worker_killed_mid_job_then_the_job_completes_after_restart(
    workers, broker, sync_settings, sim, make_linked_phone, operator
):
    workers.stop_all()
    # Lease > one push (GET + POST, 3 s timeout each): a live worker is never presumed dead.
    timings = {"PROVIDER_TIMEOUT_SECONDS": 3, "SYNC_LEASE_SECONDS": 7}
    first = workers.start(**timings)
    try:
        phone = settle(make_linked_phone, sim, "plivo", {"alias": "acme"})
        # The provider is slow on the next update: the worker is caught in the middle of it.
        sim.add_fault(kind="latency", provider="plivo", method="POST", latency_ms=1500, count=1)
        links.provider_link_set(
            actor=Actor.of(operator),
            context=CTX,
            account_id=phone.account_id,
            phone_id=phone.pk,
            provider="plivo",
            settings={"alias": "acme-2"},
        )
        job = latest_job()
        wait_for(lambda: writes(sim, "plivo"), 15, "the worker's POST to reach the provider")
        workers.kill(first, signal.SIGKILL)
        job.refresh_from_db()
        assert job.status == SyncJobStatus.IN_PROGRESS and job.attempts == 1

        workers.start(beat=True, **timings)  # restarted, with the periodic sweeper
        job = wait_for(job_done(job.pk), 30, "the job to complete after the restart")
    finally:
        log = workers.log_tail()
        workers.stop_all()
    assert job.status == SyncJobStatus.SYNCED, log
    assert job.attempts == 2  # claimed again once the dead worker's lease ran out
    # The killed request was applied by the provider, its answer lost; the retry read the
    # number back (GET), found it as desired and wrote nothing: one successful write in all.
    posts = writes(sim, "plivo")
    assert [(r["body"], r["status"]) for r in posts] == [({"alias": "acme-2"}, 202)]
    assert SyncAttempt.objects.filter(job=job, try_number=2).values_list("method", flat=True).get() == "GET"
    assert sim.number_state("plivo", US_E164)["alias"] == "acme-2"
    assert outcome_entry(phone, AuditEvent.PHONE_SYNC_SUCCEEDED).payload["object"]["job_id"] == job.pk
