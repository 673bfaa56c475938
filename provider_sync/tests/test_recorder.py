"""The worker's recorder: pushed jobs recorded on a thread of the worker process, in batches, with
nothing lost when a record fails or the process stops.

In-process against the simulator over HTTP and PostgreSQL (the recorder's thread has its own
connection, so the tests are transactional). ``test_worker.py`` runs it inside real workers.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry, AuditEvent
from phones.models import ProviderLink, SyncJob, SyncJobStatus, SyncState
from phones.services import phone_update
from provider_sync import delivery, sweeper
from provider_sync.claims import claim_jobs
from provider_sync.recorder import Recorder
from provider_sync.recording import record
from provider_sync.tests.conftest import CTX, US_NUMBER

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _setup(sync_settings, queued):
    return queued


def _linked(sim, make_linked_phone, n: int):
    phones = [
        make_linked_phone(
            sim, "plivo", {"alias": "x"}, phone={**US_NUMBER, "account_id": 7100 + i, "number": f"20255501{50 + i}"}
        )
        for i in range(n)
    ]
    first_syncs = list(SyncJob.objects.values_list("pk", flat=True))
    assert set(delivery.deliver(first_syncs).values()) == {SyncJobStatus.SYNCED}
    return phones


def _change_all(phones, operator, extension: str) -> list[int]:
    from backoffice.actor import Actor

    for phone in phones:
        phone_update(
            actor=Actor.of(operator),
            context=CTX,
            account_id=phone.account_id,
            phone_id=phone.pk,
            data={"extension": extension},
        )
    return list(SyncJob.objects.filter(reason="phone_change").order_by("pk").values_list("pk", flat=True))


def test_deliver_hands_the_pushed_jobs_to_the_recorder_which_records_them(sim, make_linked_phone, operator):
    phones = _linked(sim, make_linked_phone, 3)
    job_ids = _change_all(phones, operator, "21")
    recorder = Recorder()

    statuses = delivery.deliver(job_ids, recorder=recorder.submit)

    # Pushed and handed over; the claims hold until the record commits.
    assert set(statuses.values()) == {"pushed"}
    assert recorder.flush(timeout=30)
    assert set(SyncJob.objects.filter(pk__in=job_ids).values_list("status", flat=True)) == {SyncJobStatus.SYNCED}
    assert not SyncJob.objects.filter(pk__in=job_ids, claim_token__isnull=False).exists()
    assert set(ProviderLink.objects.values_list("sync_state", flat=True)) == {SyncState.SYNCED}
    for phone in phones:
        (entry,) = AuditEntry.objects.filter(phone=phone, event=AuditEvent.PHONE_SYNC_SUCCEEDED).order_by("-id")[:1]
        assert entry.operator_email == operator.email
        assert entry.payload["object"]["job_id"] in job_ids
    # Each job was claimed once: handing over the record costs no second attempt.
    assert set(SyncJob.objects.filter(pk__in=job_ids).values_list("attempts", flat=True)) == {1}


def test_outcomes_that_arrive_together_are_recorded_in_one_transaction(sim, make_linked_phone, operator):
    phones = _linked(sim, make_linked_phone, 4)
    job_ids = _change_all(phones, operator, "22")
    outcomes = delivery.push(claim_jobs(job_ids[0], limit=len(job_ids)))
    batches: list[list[int]] = []
    gate = threading.Event()

    def write(batch):
        gate.wait(10)
        batches.append([claim.job_id for claim, _, _ in batch])
        return record(batch)

    recorder = Recorder(write)
    recorder.submit(outcomes[:1])
    recorder.submit(outcomes[1:])  # arrive while the first record waits
    gate.set()
    assert recorder.flush(timeout=30)

    assert sorted(job for batch in batches for job in batch) == job_ids
    assert len(batches) <= 2 and len(batches[-1]) >= 3
    assert set(SyncJob.objects.filter(pk__in=job_ids).values_list("status", flat=True)) == {SyncJobStatus.SYNCED}


def test_a_record_that_keeps_failing_leaves_the_jobs_to_their_leases(
    sim, make_linked_phone, operator, settings, monkeypatch
):
    monkeypatch.setattr("provider_sync.recorder.RECORD_TRIES", 2)
    monkeypatch.setattr("provider_sync.recorder.time.sleep", lambda _s: None)
    (phone,) = _linked(sim, make_linked_phone, 1)
    (job_id,) = _change_all([phone], operator, "23")
    tries = []

    def broken(batch):
        tries.append(len(batch))
        raise ConnectionError("database went away")

    recorder = Recorder(broken)
    delivery.deliver([job_id], recorder=recorder.submit)
    assert recorder.flush(timeout=30)

    assert tries == [1, 1]
    job = SyncJob.objects.get(pk=job_id)
    # Still claimed: nothing took it meanwhile, and no outcome was invented.
    assert job.status == SyncJobStatus.IN_PROGRESS and job.claim_token is not None
    assert not AuditEntry.objects.filter(event=AuditEvent.PHONE_SYNC_SUCCEEDED, payload__object__job_id=job_id).exists()
    # Once its lease lapses the sweeper queues it again and a delivery records it once.
    SyncJob.objects.filter(pk=job_id).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert sweeper.requeue_due() == 1
    assert delivery.deliver([job_id])[job_id] == SyncJobStatus.SYNCED
    assert AuditEntry.objects.filter(event=AuditEvent.PHONE_SYNC_SUCCEEDED, payload__object__job_id=job_id).count() == 1


def test_a_late_record_of_a_lapsed_claim_does_not_overwrite_the_newer_claims_outcome(sim, make_linked_phone, operator):
    (phone,) = _linked(sim, make_linked_phone, 1)
    (job_id,) = _change_all([phone], operator, "24")
    gate = threading.Event()

    def slow(batch):
        gate.wait(10)
        return record(batch)

    recorder = Recorder(slow)
    delivery.deliver([job_id], recorder=recorder.submit)  # pushed; its record waits
    # Its lease lapses meanwhile; another worker claims and records the job.
    SyncJob.objects.filter(pk=job_id).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert delivery.deliver([job_id])[job_id] == SyncJobStatus.SYNCED
    gate.set()
    assert recorder.flush(timeout=30)

    assert SyncJob.objects.get(pk=job_id).status == SyncJobStatus.SYNCED
    assert AuditEntry.objects.filter(event=AuditEvent.PHONE_SYNC_SUCCEEDED, payload__object__job_id=job_id).count() == 1


def test_one_job_twice_in_the_queue_is_recorded_in_two_batches(sim, make_linked_phone, operator):
    (phone,) = _linked(sim, make_linked_phone, 1)
    (job_id,) = _change_all([phone], operator, "25")
    older = delivery.push(claim_jobs(job_id))
    SyncJob.objects.filter(pk=job_id).update(locked_until=timezone.now() - timedelta(seconds=1))
    newer = delivery.push(claim_jobs(job_id))
    batches: list[list[tuple[int, str]]] = []

    def write(batch):
        statuses = record(batch)
        batches.append([(claim.job_id, status) for (claim, _, _), status in zip(batch, statuses, strict=True)])
        return statuses

    gate = threading.Event()
    recorder = Recorder(lambda batch: (gate.wait(10), write(batch))[1])
    recorder.submit(older + newer)
    gate.set()
    assert recorder.flush(timeout=30)

    assert batches == [[(job_id, "stale")], [(job_id, SyncJobStatus.SYNCED)]]
    assert SyncJob.objects.get(pk=job_id).status == SyncJobStatus.SYNCED
