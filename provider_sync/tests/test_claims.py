"""The one-statement claim (``phones.changes.claim_due_jobs``, PostgreSQL) equals the plain ORM
claim (``provider_sync.claims._claim_plain``): from the same states, the same claims and the same
rows of every job and link afterwards."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from backoffice.actor import Actor
from phones import changes
from phones.models import ProviderLink, SyncJob, SyncJobStatus
from phones.services import phone_update
from provider_sync import claims
from provider_sync.tests.conftest import CTX, linked_plivo_phones

# The worker's own claim: jobs stay pending at commit (``claim_in_worker``).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("claim_in_worker")]

NOW = timezone.now()
TOKEN = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.fixture(autouse=True)
def _setup(sync_settings, queued):
    pass


def _scene(sim, make_linked_phone, operator):
    """Linked phones whose jobs cover every case of the claim's filter."""
    phones = linked_plivo_phones(sim, make_linked_phone, 8, account=700, numbers="555-02", alias="scene")
    jobs = list(SyncJob.objects.order_by("id"))
    due = NOW - timedelta(seconds=5)
    SyncJob.objects.update(next_attempt_at=due)
    # 0: superseded by a newer change of its phone (a second, newer job of the link waits).
    phone_update(
        actor=Actor.of(operator),
        context=CTX,
        account_id=phones[0].account_id,
        phone_id=phones[0].pk,
        data={"extension": "9"},
    )
    SyncJob.objects.filter(status=SyncJobStatus.PENDING).update(next_attempt_at=due)
    # 1: not due yet.
    SyncJob.objects.filter(pk=jobs[1].pk).update(next_attempt_at=NOW + timedelta(minutes=5))
    # 2: provisioning, due for a poll.
    SyncJob.objects.filter(pk=jobs[2].pk).update(status=SyncJobStatus.PROVISIONING, attempts=1, polls=2)
    # 3: in progress, its worker's lease lapsed: claimable again.
    SyncJob.objects.filter(pk=jobs[3].pk).update(
        status=SyncJobStatus.IN_PROGRESS, attempts=1, locked_until=NOW - timedelta(seconds=1)
    )
    # 4: in progress under a live lease: neither it nor its link's next job may go.
    SyncJob.objects.filter(pk=jobs[4].pk).update(
        status=SyncJobStatus.IN_PROGRESS, attempts=1, locked_until=NOW + timedelta(seconds=30), claim_token=uuid.uuid4()
    )
    # 5: job 6 gets job 5's provider number: the number's older open job goes first.
    SyncJob.objects.filter(pk=jobs[6].pk).update(number=jobs[5].number)
    # 7: the same number as job 4's, which is out at the provider.
    SyncJob.objects.filter(pk=jobs[7].pk).update(number=jobs[4].number)
    return jobs


def _row(obj):
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def _state():
    return [_row(job) for job in SyncJob.objects.order_by("id")], [
        _row(link) for link in ProviderLink.objects.order_by("id")
    ]


def _claim(monkeypatch, vendor_sql: bool, job_id: int, limit: int, among=None):
    monkeypatch.setattr(claims.timezone, "now", lambda: NOW)
    monkeypatch.setattr(claims.uuid, "uuid4", lambda: TOKEN)
    monkeypatch.setattr(claims, "claim_due_jobs", changes.claim_due_jobs if vendor_sql else _plain)
    with transaction.atomic():
        taken = claims.claim_jobs(job_id, limit=limit, among=among)
        state = _state()
        transaction.set_rollback(True)
    return taken, state


def _plain(*, job_id, limit, now, due_by, lease_until, token, among):
    assert due_by == now + claims.DUE_TOLERANCE
    return claims._claim_plain(job_id, limit=limit, now=now, lease_until=lease_until, token=token, among=among)


@pytest.mark.parametrize("limit", [1, 2, 32])
def test_the_one_statement_claim_equals_the_plain_one(sim, make_linked_phone, operator, monkeypatch, limit):
    assert connection.vendor == "postgresql"
    jobs = _scene(sim, make_linked_phone, operator)
    newest = SyncJob.objects.order_by("-id").first()
    for job_id in [*(job.pk for job in jobs), newest.pk]:
        # A task's claim takes a batch only while one of its jobs (``among``) is claimable.
        for among in (None, [job_id], [jobs[1].pk, job_id]):
            plain = _claim(monkeypatch, False, job_id, limit, among)
            one = _claim(monkeypatch, True, job_id, limit, among)
            assert one == plain, f"job {job_id}, limit {limit}, among {among}"
    # The scene is not vacuous: the batch takes the poll, the lapsed lease, job 5 and the newest
    # job of phone 0, and leaves the rest; a single claim takes only what it names.
    batch, _ = _claim(monkeypatch, True, jobs[3].pk, 32)
    assert {claim.job_id: claim.mode for claim in batch} == {
        jobs[2].pk: "poll",
        jobs[3].pk: "push",
        jobs[5].pk: "push",
        newest.pk: "push",
    }
    single, _ = _claim(monkeypatch, True, jobs[6].pk, 1)
    assert single == []  # behind job 5 of the same number
    # A task sent for a job not due (1) or out at the provider (4) takes nothing.
    idle, _ = _claim(monkeypatch, True, jobs[1].pk, 32, [jobs[1].pk, jobs[4].pk])
    assert idle == []
