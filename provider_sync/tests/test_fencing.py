"""Fencing, against the simulator over HTTP: a push sends nothing once its claim no longer holds,
jobs of one provider number go one at a time, a callback never waits on the worker.

Each test here reproduces what a chaos run found on the real stack (a batch that outlived its
lease let an older job overwrite a newer one; one job pushed by two claims at once; the Sinch
callback deadlocking with the worker) and failed before the fix.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from backoffice.actor import Actor
from phones.models import Phone, ProviderLink, SyncJob, SyncJobStatus
from phones.services import phone_create, phone_update
from provider_sync import claims, delivery, links, recording
from provider_sync.adapters.sinch import sign_callback
from provider_sync.fencing import CLAIM_HEADER, JOB_HEADER
from provider_sync.tests.conftest import BR_E164, CTX, US_E164, US_NUMBER, claim_one, push_one, record_one

# The worker's own claim: jobs stay pending at commit (``claim_in_worker``).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("claim_in_worker")]


@pytest.fixture(autouse=True)
def _setup(sync_settings, queued):
    # A lease shorter than the check's margin (two provider timeouts): every check asks the
    # database, so a lease the tests make lapse in the database is seen at once.
    sync_settings.SYNC_LEASE_SECONDS = 1.5
    return queued


def test_a_check_asks_nothing_while_the_lease_is_fresh(sim, make_linked_phone, settings):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    make_linked_phone(sim, "plivo", {"alias": "acme"})
    settings.SYNC_LEASE_SECONDS = 60.0
    claim = claim_one(SyncJob.objects.get().pk)
    with CaptureQueriesContext(db) as queries:
        result, error = push_one(claim)
    assert result is not None and error is None and len(requests_of(sim, claim.job_id)) == 3
    assert [q["sql"] for q in queries if "locked_until" in q["sql"]] == []


def callback_body(settings, event_id: str) -> bytes:
    """A Sinch provisioning event for the Brazilian test number, as the provider signs it."""
    return json.dumps(
        {
            "eventId": event_id,
            "timestamp": timezone.now().isoformat(),  # fresh: a stale one is refused
            "projectId": settings.SINCH_PROJECT_ID,
            "resourceId": BR_E164,
            "resourceType": "ACTIVE_NUMBER",
            "eventType": "PROVISIONING_TO_SMS_PLATFORM",
            "status": "SUCCEEDED",
        }
    ).encode()


def lapse(job_id: int) -> None:
    """The job's worker is presumed dead: its lease ran out."""
    SyncJob.objects.filter(pk=job_id).update(locked_until=timezone.now() - timedelta(seconds=1))


def requests_of(sim, job_id: int) -> list[dict]:
    return [r for r in sim.recorded_requests() if (r.get("headers") or {}).get(JOB_HEADER) == str(job_id)]


def test_every_provider_request_names_its_job_and_claim(sim, make_linked_phone):
    make_linked_phone(sim, "plivo", {"alias": "acme"})
    job = SyncJob.objects.get()
    claim = claim_one(job.pk)
    assert record_one(claim, *push_one(claim)) == SyncJobStatus.SYNCED
    sent = requests_of(sim, job.pk)
    assert len(sent) == 3 and {r["headers"][CLAIM_HEADER] for r in sent} == {claim.token.hex}
    job.refresh_from_db()
    assert job.first_claimed_at is not None and job.first_claimed_at <= job.finished_at


def test_an_older_job_whose_lease_lapsed_never_overwrites_the_newer_one(sim, make_linked_phone, operator):
    """The chaos run's overwrite: the link's job was claimed, its lease lapsed while its batch ran;
    meanwhile the operator unlinked the number, and the release was claimed, pushed and recorded;
    then the first worker pushed its superseded job, giving the released number its app back."""
    phone = make_linked_phone(sim, "plivo", {"alias": "acme", "app_id": "app-1"})
    first = SyncJob.objects.get()
    old_claim = claim_one(first.pk)
    links.provider_link_remove(actor=Actor.of(operator), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    release = SyncJob.objects.exclude(pk=first.pk).get()
    lapse(first.pk)  # the batch outlived the lease
    new_claim = claim_one(release.pk)
    assert new_claim is not None
    assert record_one(new_claim, *push_one(new_claim)) == SyncJobStatus.SYNCED
    # The first worker's push comes late: its claim fails the check, nothing is sent.
    result, error = push_one(old_claim)
    assert result is None and error.codes == ("CLAIM_LOST",)
    assert record_one(old_claim, result, error) == "stale"
    assert requests_of(sim, first.pk) == []
    assert sim.number_state("plivo", US_E164).get("app_id") in (None, "")


def test_one_job_is_never_pushed_by_two_claims(sim, make_linked_phone):
    make_linked_phone(sim, "plivo", {"alias": "acme"})
    job = SyncJob.objects.get()
    first = claim_one(job.pk)
    lapse(job.pk)
    second = claim_one(job.pk)
    assert second is not None and second.token != first.token
    result, error = push_one(first)  # the first claim no longer holds: it sends nothing
    assert result is None and error.codes == ("CLAIM_LOST",)
    assert record_one(second, *push_one(second)) == SyncJobStatus.SYNCED
    assert {r["headers"][CLAIM_HEADER] for r in requests_of(sim, job.pk)} == {second.token.hex}


def test_a_lease_that_lapses_mid_push_stops_the_push_before_its_write(sim, make_linked_phone, settings):
    make_linked_phone(sim, "plivo", {"alias": "acme"})
    job = SyncJob.objects.get()
    settings.SYNC_LEASE_SECONDS = 0.5
    claim = claim_one(job.pk)
    sim.add_fault(kind="latency", provider="plivo", method="GET", latency_ms=900, count=1)  # outlives the lease
    result, error = push_one(claim)
    assert result is None and error.codes == ("CLAIM_LOST",)
    assert [r["method"] for r in requests_of(sim, job.pk)] == ["GET"]  # no POST after the lapse
    assert record_one(claim, result, error) == "stale"


def test_a_batch_longer_than_the_lease_keeps_its_claims(sim, make_linked_phone, settings, operator):
    """Pushed one after another, each job waits for the ones before it: the batch renews the
    waiting jobs' leases, so all of them are pushed and recorded."""
    settings.SYNC_PUSH_THREADS = 1
    phones = [
        make_linked_phone(sim, "plivo", {"alias": f"a{n}"}, phone={**US_NUMBER, "number": f"202555014{n}"})
        for n in range(3)
    ]
    settings.SYNC_LEASE_SECONDS = 1.5
    sim.add_fault(kind="latency", provider="plivo", method="GET", latency_ms=500, count=None)
    batch = claims.claim_jobs(SyncJob.objects.order_by("id").first().pk, limit=5)
    assert len(batch) == len(phones)
    outcomes = delivery.push(batch)  # 6 GETs of 0.5 s one after another: 3 s, twice the lease
    assert recording.record(outcomes) == [SyncJobStatus.SYNCED] * 3


def test_jobs_of_one_provider_number_go_one_at_a_time_whatever_their_link(sim, make_linked_phone, operator):
    """Phone A moves to another number: its old number's release is queued. Phone B links that
    number: its job waits until the release is done, whatever link each belongs to."""
    actor = Actor.of(operator)
    a = make_linked_phone(sim, "plivo", {"alias": "a", "app_id": "app-a"})
    claim = claim_one(SyncJob.objects.get().pk)
    record_one(claim, *push_one(claim))
    sim.seed("plivo", "12025550199")
    phone_update(actor=actor, context=CTX, account_id=a.account_id, phone_id=a.pk, data={"number": "2025550199"})
    release = SyncJob.objects.get(reason="release")
    b = phone_create(actor=actor, context=CTX, **{**US_NUMBER, "account_id": 7100})
    links.provider_link_set(
        actor=actor, context=CTX, account_id=b.account_id, phone_id=b.pk, provider="plivo", settings={"alias": "b"}
    )
    b_job = SyncJob.objects.get(link__phone=b)
    assert claims.claim_jobs(b_job.pk) == []  # the release of its number comes first
    batch = claims.claim_jobs(release.pk, limit=10)
    assert release.pk in [c.job_id for c in batch] and b_job.pk not in [c.job_id for c in batch]
    recording.record(delivery.push(batch))
    assert claims.claim_jobs(b_job.pk) != []


def test_one_provider_number_is_linked_from_one_phone_only(sim, make_linked_phone, operator):
    from phones.errors import ProviderNumberTaken

    actor = Actor.of(operator)
    make_linked_phone(sim, "sinch", {"display_name": "first"})
    other = phone_create(actor=actor, context=CTX, account_id=9999, number="3333-4444", type="MOBILE", area_code=11)
    with pytest.raises(ProviderNumberTaken):
        links.provider_link_set(
            actor=actor,
            context=CTX,
            account_id=9999,
            phone_id=other.pk,
            provider="sinch",
            settings={},
            remote_number=BR_E164,
        )
    assert not ProviderLink.objects.filter(phone=other).exists()
    assert not Phone.objects.get(pk=other.pk).provider_linked
    # The same number in another account, following its phone's number, is refused too.
    twin = phone_create(actor=actor, context=CTX, account_id=9998, number="91234-5678", type="MOBILE", area_code=11)
    with pytest.raises(ProviderNumberTaken):
        links.provider_link_set(
            actor=actor, context=CTX, account_id=9998, phone_id=twin.pk, provider="sinch", settings={}
        )


def test_a_linked_phone_changed_into_an_impossible_number_fails_its_job_without_a_request(
    sim, make_linked_phone, operator
):
    phone = make_linked_phone(sim, "plivo", {"alias": "acme"})
    claim = claim_one(SyncJob.objects.get().pk)
    record_one(claim, *push_one(claim))
    sent = len(sim.recorded_requests())
    phone_update(
        actor=Actor.of(operator), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data={"number": "20"}
    )
    change = SyncJob.objects.get(reason="phone_change")
    release = SyncJob.objects.get(reason="release")
    for job in (release, change):
        claim = claim_one(job.pk)
        record_one(claim, *push_one(claim))
    change.refresh_from_db()
    assert change.status == SyncJobStatus.FAILED and change.last_error_codes == ["IMPOSSIBLE_NUMBER"]
    assert "not a possible phone number" in change.last_error
    assert all(r.get("headers", {}).get(JOB_HEADER) != str(change.pk) for r in sim.recorded_requests()[sent:])


def test_the_sinch_callback_never_waits_on_the_worker(sim, make_linked_phone, settings):
    """The chaos run's deadlock: the worker locks phone, link, job; the callback locked the link
    and then the phone. Now it locks provisioning jobs only, skipping one the worker holds."""
    phone = make_linked_phone(sim, "sinch", {"sms_service_plan_id": "plan-a"})
    job = SyncJob.objects.get()
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJobStatus.PROVISIONING)
    body = callback_body(settings, "e1")
    signature = sign_callback(body, settings.SINCH_CALLBACK_SECRET)
    holding, release, worker_errors = threading.Event(), threading.Event(), []

    def worker() -> None:  # the worker's lock order: phone, then link, then job
        try:
            with transaction.atomic():
                Phone.objects.select_for_update().get(pk=phone.pk)
                holding.set()
                release.wait(5)
                ProviderLink.objects.select_for_update().get(phone=phone)
                SyncJob.objects.select_for_update().get(pk=job.pk)
        except Exception as exc:  # a deadlock victim
            worker_errors.append(exc)
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=worker)
    thread.start()
    holding.wait(5)
    answers = []

    def callback() -> None:
        try:
            answers.append(
                Client().post(
                    "/providers/sinch/callback",
                    body,
                    content_type="application/json",
                    HTTP_X_SINCH_SIGNATURE=signature,
                )
            )
        finally:
            connection.close()

    caller = threading.Thread(target=callback)
    started = time.monotonic()
    caller.start()
    time.sleep(0.3)  # the callback is waiting now, if it waits at all
    release.set()
    caller.join(10)
    thread.join(10)
    assert answers and answers[0].status_code == 200, answers[0].content if answers else "no answer"
    assert worker_errors == []
    assert time.monotonic() - started < 5


def test_the_api_and_the_admin_refuse_a_second_link_to_one_number(api_client_for, operator, client):
    actor = Actor.of(operator)
    first = phone_create(actor=actor, context=CTX, **{**US_NUMBER, "account_id": 8101})
    second = phone_create(actor=actor, context=CTX, **{**US_NUMBER, "account_id": 8102})
    api = api_client_for(operator)
    url = "/accounts/v1/accounts/{}/phones/{}/provider-link"
    body = {"provider": "plivo", "settings": {"alias": "a"}}
    assert api.put(url.format(8101, first.pk), body, format="json").status_code == 200
    refused = api.put(url.format(8102, second.pk), body, format="json")
    assert (refused.status_code, refused.json()) == (
        409,
        {"message": "Provider number already linked to another phone"},
    )
    assert not ProviderLink.objects.filter(phone=second).exists()
    client.force_login(operator)
    page = client.post(
        "/admin/phones/providerlink/add/",
        {"phone": second.pk, "provider": "plivo", "remote_number": "", "plivo_alias": "b"},
        follow=True,
    )
    assert "Provider number already linked to another phone" in page.content.decode()
    assert not ProviderLink.objects.filter(phone=second).exists()


def test_a_lock_conflict_in_the_callback_is_acknowledged_not_a_5xx(client, settings, monkeypatch):
    from django.db import OperationalError

    def conflict(**_):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr("provider_sync.callbacks.sinch_callback_received", conflict)
    body = callback_body(settings, "e2")
    answer = client.post(
        "/providers/sinch/callback",
        body,
        content_type="application/json",
        HTTP_X_SINCH_SIGNATURE=sign_callback(body, settings.SINCH_CALLBACK_SECRET),
    )
    assert (answer.status_code, answer.json()) == (200, {"received": "e2", "jobs": []})
