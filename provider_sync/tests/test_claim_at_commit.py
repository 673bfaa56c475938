"""A change of one linked phone claims its job in its own transaction (``SYNC_CLAIM_AT_COMMIT``):
the worker pushes on that claim, with no claim of its own. The same rules as a worker's claim
(never while an older job or another claim of the link or number is out), the same fencing, and
the usual way back for a message delivered twice or never."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEntry, AuditEvent
from backoffice.actor import Actor
from phones.changes import claim_due_jobs
from phones.models import ProviderLink, SyncJob, SyncJobStatus, SyncState
from phones.services import phone_update
from provider_sync import delivery, tasks
from provider_sync.claims import claim_from_message, claim_jobs
from provider_sync.tests.conftest import CLAIMED_AT_COMMIT, CTX, US_E164, linked_plivo_phones, writes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _setup(sync_settings, queued):
    return queued


def change(operator, phone, extension):
    return phone_update(
        actor=Actor.of(operator),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        data={"extension": extension},
    )


def settled_plivo_phone(sim, make_linked_phone):
    """A Plivo-linked phone whose link job is done (pushed on the claim its change took); the
    provider then holds another alias, so the next push writes."""
    phone = make_linked_phone(sim, "plivo", {"alias": "acme", "app_id": "app-1"})
    job = SyncJob.objects.get(phone=phone)
    assert delivery.deliver_claimed(claim_from_message(CLAIMED_AT_COMMIT.pop(job.pk))) == SyncJobStatus.SYNCED
    sim.seed("plivo", phone.e164, alias="elsewhere", app_id="app-1")
    sim.clear_requests()
    return phone


def test_a_lone_change_claims_its_job_and_publishes_the_claim(sim, make_linked_phone, operator, queued):
    phone = settled_plivo_phone(sim, make_linked_phone)
    queued.clear()
    before = timezone.now()
    change(operator, phone, "7")

    job = SyncJob.objects.latest("id")
    assert (job.status, job.attempts, job.first_claimed_at is not None) == (SyncJobStatus.IN_PROGRESS, 1, True)
    # Three provider timeouts (1 s in these tests), from the claim.
    assert before + timedelta(seconds=3) <= job.locked_until <= timezone.now() + timedelta(seconds=3)
    assert ProviderLink.objects.get(pk=job.link_id).sync_state == SyncState.IN_PROGRESS
    # One message, the claimed push: no unclaimed delivery of the same job.
    assert queued == [(job.pk, None)]
    message = CLAIMED_AT_COMMIT[job.pk]
    assert message["token"] == job.claim_token.hex
    assert message["lease_until"] == job.locked_until.isoformat()
    claim = claim_from_message(message)
    assert (claim.job_id, claim.mode, claim.try_number, claim.number) == (job.pk, "push", 1, US_E164)
    assert claim.desired == job.desired and claim.link_id == job.link_id and claim.phone_id == phone.pk


def test_the_worker_pushes_on_the_changes_claim_without_a_claim_of_its_own(sim, make_linked_phone, operator):
    phone = settled_plivo_phone(sim, make_linked_phone)
    change(operator, phone, "7")
    job = SyncJob.objects.latest("id")

    with CaptureQueriesContext(connection) as queries:
        status = tasks.push_claimed_sync_job.apply(args=(CLAIMED_AT_COMMIT.pop(job.pk),)).get()

    assert status == SyncJobStatus.SYNCED
    assert not any("SKIP LOCKED" in q["sql"] and "UPDATE" in q["sql"] for q in queries)  # no claim statement
    (post,) = writes(sim, "plivo")
    assert post["headers"]["X-Sync-Claim"] == job.claim_token.hex
    job.refresh_from_db()
    assert (job.status, job.locked_until, job.claim_token) == (SyncJobStatus.SYNCED, None, None)
    link = ProviderLink.objects.get(pk=job.link_id)
    assert link.sync_state == SyncState.SYNCED
    entry = AuditEntry.objects.filter(phone=phone).latest("id")
    assert entry.event == AuditEvent.PHONE_SYNC_SUCCEEDED and entry.payload["object"]["job_id"] == job.pk
    assert entry.payload["email"] == operator.email and entry.payload["origin"] == "TASK"


def test_no_claim_while_an_older_job_of_the_link_is_out(sim, make_linked_phone, operator, queued):
    phone = settled_plivo_phone(sim, make_linked_phone)
    change(operator, phone, "7")  # claimed at commit, its push not done yet
    first = SyncJob.objects.latest("id")
    queued.clear()
    change(operator, phone, "8")

    second = SyncJob.objects.latest("id")
    first.refresh_from_db()
    # The first is superseded and keeps its lease: the second waits, unclaimed, for it to end.
    assert (first.status, first.locked_until is not None) == (SyncJobStatus.SUPERSEDED, True)
    assert (second.status, second.claim_token, second.attempts) == (SyncJobStatus.PENDING, None, 0)
    assert queued == [(second.pk, None)] and second.pk not in CLAIMED_AT_COMMIT

    # The second cannot be claimed while the first is out; once the first is recorded, it goes.
    assert delivery.deliver([second.pk]) == {second.pk: "skipped"}
    assert delivery.deliver_claimed(claim_from_message(CLAIMED_AT_COMMIT.pop(first.pk))) == "superseded"
    assert delivery.deliver([second.pk]) == {second.pk: SyncJobStatus.SYNCED}
    seen = [request["headers"]["X-Sync-Job"] for request in sim.recorded_requests("plivo")]
    assert seen == sorted(seen, key=int) and set(seen) == {str(first.pk), str(second.pk)}  # one after the other


def test_a_claim_in_flight_on_an_older_job_is_seen_by_the_change(sim, make_linked_phone, operator, settings):
    """The race the claim at commit must not lose: a worker claims the link's open job while a
    change is superseding it. The change's supersede waits for the claim's row lock; its own claim,
    a statement after it, then sees that claim's lease and takes nothing."""
    phone = settled_plivo_phone(sim, make_linked_phone)
    settings.SYNC_CLAIM_AT_COMMIT = False
    change(operator, phone, "7")  # an open job, pending
    older = SyncJob.objects.latest("id")
    settings.SYNC_CLAIM_AT_COMMIT = True

    claimed, release = threading.Event(), threading.Event()

    def worker_claims() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                now = timezone.now()
                rows = claim_due_jobs(
                    job_id=older.pk,
                    limit=1,
                    now=now,
                    due_by=now,
                    lease_until=now + timedelta(seconds=30),
                    token=uuid.uuid4(),
                )
                assert [row["id"] for row in rows] == [older.pk]
                claimed.set()
                release.wait(10)
                cursor.execute("COMMIT")
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker_claims)
    thread.start()
    assert claimed.wait(10)
    timer = threading.Timer(0.5, release.set)  # the claim commits while the change waits on it
    timer.start()
    started = time.monotonic()
    change(operator, phone, "8")
    waited = time.monotonic() - started
    thread.join(10)

    assert waited > 0.3, "the change did not wait for the claim in flight: the race was not run"

    newer = SyncJob.objects.latest("id")
    older.refresh_from_db()
    assert older.status == SyncJobStatus.SUPERSEDED and older.locked_until > timezone.now()
    assert (newer.status, newer.claim_token) == (SyncJobStatus.PENDING, None)
    assert newer.pk not in CLAIMED_AT_COMMIT


def test_a_message_delivered_again_claims_the_usual_way(sim, make_linked_phone, operator):
    phone = settled_plivo_phone(sim, make_linked_phone)
    change(operator, phone, "7")
    job = SyncJob.objects.latest("id")
    message = CLAIMED_AT_COMMIT.pop(job.pk)

    # Its worker may still be pushing on that claim: the copy waits for the lease.
    tasks.push_claimed_sync_job.push_request(delivery_info={"redelivered": True})
    try:
        assert tasks.push_claimed_sync_job.run(message) == "skipped"
    finally:
        tasks.push_claimed_sync_job.pop_request()
    assert writes(sim, "plivo") == []
    job.refresh_from_db()
    assert job.claim_token.hex == message["token"] and job.status == SyncJobStatus.IN_PROGRESS


def test_a_claim_lost_before_its_message_arrived_sends_nothing(sim, make_linked_phone, operator):
    phone = settled_plivo_phone(sim, make_linked_phone)
    change(operator, phone, "7")
    job = SyncJob.objects.latest("id")
    late = claim_from_message(CLAIMED_AT_COMMIT.pop(job.pk))
    # The message took longer than the lease: the sweeper's task claimed the job again.
    time.sleep((job.locked_until - timezone.now()).total_seconds() + 0.05)
    (again,) = claim_jobs(job.pk)

    assert delivery.deliver_claimed(late) == "stale"
    assert sim.recorded_requests("plivo") == []  # not even its GET
    job.refresh_from_db()
    assert job.claim_token == again.token and job.status == SyncJobStatus.IN_PROGRESS


def test_a_message_that_cannot_be_published_leaves_the_claim_to_lapse(
    sim, make_linked_phone, operator, monkeypatch, caplog
):
    from backoffice.celery import app

    phone = settled_plivo_phone(sim, make_linked_phone)
    monkeypatch.undo()  # the real on-commit hooks, and a broker that refuses

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker is down")

    monkeypatch.setattr(app, "send_task", broker_down)
    with caplog.at_level(logging.WARNING, logger="phones.sync"):
        change(operator, phone, "7")
    job = SyncJob.objects.latest("id")
    # Still claimed: a publish that failed may have reached the broker, and its worker pushes
    # while the lease holds. The sweeper delivers it once the lease lapsed.
    assert job.status == SyncJobStatus.IN_PROGRESS and job.locked_until > timezone.now()
    assert "the sweeper will deliver it when its lease lapses" in caplog.text
    assert not claim_jobs(job.pk)
    SyncJob.objects.filter(pk=job.pk).update(locked_until=timezone.now())
    assert [c.job_id for c in claim_jobs(job.pk)] == [job.pk]


def test_a_bulk_change_publishes_its_jobs_unclaimed_in_batches(sim, make_linked_phone, operator, queued):
    from django.db import transaction

    phones = linked_plivo_phones(sim, make_linked_phone, 3, account=7100, numbers="555-05", alias="bulk")
    CLAIMED_AT_COMMIT.clear()
    SyncJob.objects.update(status=SyncJobStatus.SYNCED, locked_until=None, claim_token=None)
    queued.clear()
    with transaction.atomic():
        for phone in phones:
            change(operator, phone, "9")
    jobs = list(SyncJob.objects.filter(status=SyncJobStatus.PENDING).order_by("id"))
    assert len(jobs) == 3 and CLAIMED_AT_COMMIT == {}
    assert queued == [(job.pk, None) for job in jobs]


def test_no_claim_at_commit_while_the_workers_are_behind(sim, make_linked_phone, operator, queued, settings):
    """With ``SYNC_CLAIM_AT_COMMIT_MAX_OUT`` claims out, a change leaves its job pending: a backlog
    goes in the workers' batches (pushed concurrently), not one message per job."""
    settings.SYNC_CLAIM_AT_COMMIT_MAX_OUT = 2
    phones = linked_plivo_phones(sim, make_linked_phone, 3, account=7200, numbers="555-06", alias="out")
    assert SyncJob.objects.filter(status=SyncJobStatus.IN_PROGRESS).count() == 2  # the first two links' jobs
    third = SyncJob.objects.get(phone=phones[2])
    assert (third.status, third.claim_token) == (SyncJobStatus.PENDING, None) and third.pk not in CLAIMED_AT_COMMIT

    # One comes back: a claim is free again.
    first = SyncJob.objects.get(phone=phones[0])
    assert delivery.deliver_claimed(claim_from_message(CLAIMED_AT_COMMIT.pop(first.pk))) == SyncJobStatus.SYNCED
    change(operator, phones[0], "7")
    assert SyncJob.objects.latest("id").status == SyncJobStatus.IN_PROGRESS
