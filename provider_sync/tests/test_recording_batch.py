"""A recorded batch leaves what recording its jobs one at a time leaves.

``recording.record`` of several jobs locks them with compiled statements and writes every row in
one statement (``backoffice.db_writes.write_many``); of one job it takes the single-row path. The same
outcomes (synced, a retry, a permanent failure, a stale claim) recorded both ways on two alike
sets of linked phones must leave the same jobs, links, attempts and audit entries.
"""

from __future__ import annotations

import pytest

from audit.integrity import audit_verify
from audit.models import AuditEntry
from backoffice.actor import Actor
from phones.models import ProviderLink, SyncAttempt, SyncJob, SyncJobStatus
from provider_sync import claims, delivery, links, recording
from provider_sync.adapters import PermanentProviderError, RetryableProviderError
from provider_sync.tests.conftest import CTX, run_due

# The worker's own claim: jobs stay pending at commit (``claim_in_worker``).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("claim_in_worker")]

SIZE = 5
JOB_FIELDS = ("status", "attempts", "last_status", "last_error", "last_error_codes", "claim_token")
STATUSES = [SyncJobStatus.SYNCED, SyncJobStatus.PENDING, SyncJobStatus.FAILED, "stale", SyncJobStatus.SYNCED]
LINK_FIELDS = ("sync_state", "last_status", "last_error", "last_error_codes", "pushed_settings", "drift")


@pytest.fixture(autouse=True)
def _setup(sync_settings, queued):
    return queued


def _phones(sim, make_linked_phone, offset: int) -> list:
    phones = [
        make_linked_phone(
            sim,
            "plivo",
            {"alias": f"acme-{i}"},
            phone={
                "account_id": 700 + offset + i,
                "number": f"555-02{offset + i:02d}",
                "type": "MOBILE",
                "area_code": 212,
            },
        )
        for i in range(SIZE)
    ]
    return phones


def _varied(outcomes: list) -> list:
    """The real outcomes, with a retry and a permanent failure among them."""
    varied = list(outcomes)
    claim, result, _ = varied[1]
    varied[1] = (claim, None, RetryableProviderError("Simulated 503", status=503, attempts=result.attempts))
    claim, result, _ = varied[2]
    varied[2] = (
        claim,
        None,
        PermanentProviderError("Number is not SMS capable", status=400, codes=("INVALID",), attempts=result.attempts),
    )
    return varied


def _state(phones: list) -> list[dict]:
    """What recording left, per phone, without keys, times and tokens that differ by nature."""
    state = []
    for phone in phones:
        job = SyncJob.objects.filter(phone=phone).latest("id")
        link = ProviderLink.objects.get(phone=phone)
        entries = AuditEntry.objects.filter(phone=phone).order_by("id")
        state.append(
            {
                "job": {name: getattr(job, name) for name in JOB_FIELDS},
                "job finished": job.finished_at is not None,
                "job leased": job.locked_until is not None,
                "job due later": job.next_attempt_at > job.first_claimed_at,
                "link": {name: getattr(link, name) for name in LINK_FIELDS},
                "link synced at": link.last_synced_at is not None and link.last_synced_at >= job.first_claimed_at,
                "attempts": list(
                    SyncAttempt.objects.filter(job=job).order_by("id").values_list("method", "response_status", "kind")
                ),
                "entries": [
                    (e.event, e.changes, e.operator_email, e.origin, e.payload["object"]["status"])
                    for e in entries
                    if e.event.startswith("phone_sync")
                ],
            }
        )
    return state


def test_a_batch_records_what_its_jobs_recorded_one_at_a_time_record(sim, make_linked_phone, operator):

    batch_phones = _phones(sim, make_linked_phone, 0)
    single_phones = _phones(sim, make_linked_phone, 50)
    run_due()  # the links' first syncs
    for position, phone in [*enumerate(batch_phones), *enumerate(single_phones)]:  # a job whose push writes
        links.provider_link_set(
            actor=Actor.of(operator),
            context=CTX,
            account_id=phone.account_id,
            phone_id=phone.pk,
            provider="plivo",
            settings={"alias": f"renamed-{position}"},
        )

    def pending(phones: list) -> list[int]:
        return list(
            SyncJob.objects.filter(phone__in=phones, status="pending").order_by("id").values_list("pk", flat=True)
        )

    batch = claims.claim_jobs(pending(batch_phones)[0], limit=SIZE, among=pending(batch_phones))
    assert len(batch) == SIZE
    outcomes = _varied(delivery.push(batch))
    singles = [claims.claim_jobs(job_id)[0] for job_id in pending(single_phones)]
    single_outcomes = _varied([delivery.push([claim])[0] for claim in singles])
    # A stale claim in both: its job was claimed again meanwhile.
    for claim in (batch[3], singles[3]):
        SyncJob.objects.filter(pk=claim.job_id).update(claim_token=None)

    assert recording.record(outcomes) == STATUSES
    assert [recording.record([outcome])[0] for outcome in single_outcomes] == STATUSES
    assert _state(batch_phones) == _state(single_phones)
    assert list(audit_verify()) == []
