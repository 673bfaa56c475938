"""Delivery in-process against the provider simulator over HTTP: provider rules, errors,
attempts, outcomes and their audit entries, callback, sweeper, reconciliation.

The same code runs in the worker; ``test_worker.py`` drives it through Celery and Redis.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry, AuditEvent
from backoffice.actor import Actor
from phones.models import ProviderLink, SyncAttempt, SyncJob, SyncJobStatus, SyncState
from phones.services import phone_inactivate, phone_update
from provider_sync import claims, delivery, links, reconcile, recording, sweeper
from provider_sync.adapters.sinch import sign_callback
from provider_sync.tests.conftest import (
    BR_E164,
    CTX,
    US_E164,
    claim_one,
    linked_plivo_phones,
    push_one,
    record_one,
    run_due,
    run_job,
    writes,
)

# The worker's own claim: jobs stay pending at commit (``claim_in_worker``).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("claim_in_worker")]

SINCH_FULL = {"display_name": "Acme", "sms_service_plan_id": "plan-a", "voice_type": "RTC", "voice_target_id": "app-1"}


@pytest.fixture(autouse=True)
def _setup(sync_settings, queued):
    return queued


def sync_entries(phone, event=None):
    qs = AuditEntry.objects.filter(phone=phone, event__startswith="phone_").exclude(
        event__in=["phone_creation", "phone_change", "phone_link_change", "phone_unlink"]
    )
    if event:
        qs = qs.filter(event=event)
    return list(qs.order_by("id"))


def assert_outcome_entry(entry, phone, job, operator, *, event, status):
    """Sync outcomes: the contract's envelope, the sync operation, origin TASK, the operator
    whose change caused the job, and a linear per-phone chain."""
    assert entry.event == event
    assert entry.payload["method"] == "POST"
    assert entry.payload["uri"] == "/v1/accounts/:accountId/phones/:phoneId/sync"
    assert entry.payload["origin"] == "TASK" and entry.origin == "TASK"
    assert entry.payload["email"] == operator.email == entry.operator_email
    assert entry.payload["roles"] == ["backoffice-operator"] == entry.operator_roles
    assert entry.operator_id == operator.pk
    obj = entry.payload["object"]
    assert (obj["phone_id"], obj["job_id"], obj["status"]) == (phone.pk, job.pk, status)
    assert obj["provider"] == job.provider and obj["number"] == job.number
    previous = AuditEntry.objects.filter(phone=phone, id__lt=entry.id).order_by("-id").first()
    assert entry.prev_hash == previous.hash


# --- Sinch rules ---------------------------------------------------------------------------


def test_sinch_push_follows_scheduled_provisioning_to_synced(sim, make_linked_phone, operator):
    phone = make_linked_phone(sim, "sinch", SINCH_FULL)
    job = SyncJob.objects.get()
    assert run_job(job.pk) == SyncJobStatus.PROVISIONING
    link = ProviderLink.objects.get()
    assert link.sync_state == SyncState.PROVISIONING and link.last_synced_at is None
    (patch,) = writes(sim, "sinch")
    assert patch["body"] == {
        "displayName": "Acme",
        "smsConfiguration": {"servicePlanId": "plan-a"},
        "voiceConfiguration": {"type": "RTC", "appId": "app-1"},
    }
    assert run_due() and SyncJob.objects.get().status == SyncJobStatus.SYNCED
    job.refresh_from_db()
    assert job.polls >= 1 and job.attempts == 1
    # The end of provisioning was confirmed with GETs only.
    methods = [r["method"] for r in sim.recorded_requests("sinch")]
    assert methods[:2] == ["GET", "PATCH"] and set(methods[2:]) == {"GET"}
    link.refresh_from_db()
    assert link.sync_state == SyncState.SYNCED and link.last_synced_at and link.pushed_settings == job.desired
    (entry,) = sync_entries(phone)
    assert_outcome_entry(
        entry, phone, job, operator, event=AuditEvent.PHONE_PROVISIONING_FINISHED, status=SyncJobStatus.SYNCED
    )
    remote = sim.number_state("sinch", BR_E164)
    assert remote["smsConfiguration"]["servicePlanId"] == "plan-a" and remote["voiceConfiguration"]["appId"] == "app-1"


def test_sinch_plan_change_unlinks_before_relinking(sim, make_linked_phone, operator):
    phone = make_linked_phone(
        sim, "sinch", {"sms_service_plan_id": "plan-b"}, remote={"smsConfiguration": {"servicePlanId": "plan-a"}}
    )
    run_due()
    bodies = [r["body"] for r in writes(sim, "sinch")]
    assert bodies == [{"smsConfiguration": {"servicePlanId": ""}}, {"smsConfiguration": {"servicePlanId": "plan-b"}}]
    assert all(r["status"] == 200 for r in writes(sim, "sinch"))
    assert SyncJob.objects.get().status == SyncJobStatus.SYNCED
    assert sim.number_state("sinch", phone.e164)["smsConfiguration"]["servicePlanId"] == "plan-b"


def test_sinch_campaign_change_unlinks_the_campaign_first(sim, make_linked_phone):
    us_phone = {"account_id": 7003, "number": "2025550199", "type": "MOBILE", "area_code": None, "country_code": 1}
    make_linked_phone(
        sim,
        "sinch",
        {"sms_service_plan_id": "plan-a", "sms_campaign_id": "camp-2"},
        phone=us_phone,
        remote={"regionCode": "US", "smsConfiguration": {"servicePlanId": "plan-a", "campaignId": "camp-1"}},
    )
    run_due()
    bodies = [r["body"]["smsConfiguration"] for r in writes(sim, "sinch")]
    assert bodies == [
        {"servicePlanId": "plan-a", "campaignId": ""},
        {"servicePlanId": "plan-a", "campaignId": "camp-2"},
    ]
    assert SyncJob.objects.get().status == SyncJobStatus.SYNCED


def test_sinch_never_sends_an_empty_configuration_object(sim, make_linked_phone, operator):
    phone = make_linked_phone(sim, "sinch", {"display_name": "Only a name"})
    run_due()
    # Inactivating a number with no SMS/voice service: nothing to unlink, no empty objects.
    phone_inactivate(actor=Actor.of(operator), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    run_due()
    bodies = [r["body"] for r in writes(sim, "sinch")]
    assert bodies == [{"displayName": "Only a name"}]
    assert list(SyncJob.objects.values_list("status", flat=True)) == ["synced", "synced"]


def test_inactivation_unlinks_sms_and_voice_at_sinch(sim, make_linked_phone, operator):
    phone = make_linked_phone(sim, "sinch", SINCH_FULL)
    run_due()
    sim.clear_requests()
    phone_inactivate(actor=Actor.of(operator), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    run_due()
    (patch,) = writes(sim, "sinch")
    assert patch["body"] == {
        "smsConfiguration": {"servicePlanId": ""},
        "voiceConfiguration": {"type": "RTC", "appId": ""},
    }
    job = SyncJob.objects.order_by("-id").first()
    assert (job.reason, job.status) == ("inactivation", SyncJobStatus.SYNCED)
    (entry,) = sync_entries(phone, AuditEvent.PHONE_SYNC_SUCCEEDED)
    assert_outcome_entry(entry, phone, job, operator, event=AuditEvent.PHONE_SYNC_SUCCEEDED, status="synced")


def test_sinch_provisioning_failure_fails_the_job_with_the_error_codes(sim, make_linked_phone, operator):
    sim.add_fault(kind="provisioning_failure", provider="sinch", error_codes=["SMS_PROVISIONING_FAILED"])
    phone = make_linked_phone(sim, "sinch", {"sms_service_plan_id": "plan-a"})
    run_due()
    job = SyncJob.objects.get()
    assert job.status == SyncJobStatus.FAILED and job.last_error_codes == ["SMS_PROVISIONING_FAILED"]
    link = ProviderLink.objects.get()
    assert link.sync_state == SyncState.FAILED and "FAILED" in link.last_error
    (entry,) = sync_entries(phone)
    assert_outcome_entry(entry, phone, job, operator, event=AuditEvent.PHONE_PROVISIONING_FINISHED, status="failed")
    assert entry.payload["object"]["error_codes"] == ["SMS_PROVISIONING_FAILED"]


# --- Sinch callback ------------------------------------------------------------------------


def callback_body(number, status="SUCCEEDED"):
    return json.dumps(
        {
            "eventId": "ev-1",
            "timestamp": timezone.now().isoformat(),  # fresh: a stale one is refused
            "projectId": "sim-project",
            "resourceType": "ACTIVE_NUMBER",
            "resourceId": number,
            "eventType": "PROVISIONING_TO_SMS_PLATFORM",
            "status": status,
            "failureCode": "",
        }
    ).encode()


def test_sinch_callback_is_verified_then_confirmed_with_a_get(client, sim, make_linked_phone, queued, settings):
    sim.configure(provisioning_seconds=30)  # only the callback can make the job due now
    settings.SYNC_PROVISIONING_POLL_SECONDS = 30
    make_linked_phone(sim, "sinch", {"sms_service_plan_id": "plan-a"})
    job = SyncJob.objects.get()
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == SyncJobStatus.PROVISIONING and job.next_attempt_at > timezone.now()
    body = callback_body(BR_E164)
    queued_before = len(queued)

    bad = client.post(
        "/providers/sinch/callback", body, content_type="application/json", HTTP_X_SINCH_SIGNATURE="0" * 40
    )
    assert bad.status_code == 401
    unsigned = client.post("/providers/sinch/callback", body, content_type="application/json")
    assert unsigned.status_code == 401
    tampered_sig = sign_callback(body, "sim-callback-secret")
    tampered = client.post(
        "/providers/sinch/callback",
        callback_body(BR_E164, "FAILED"),
        content_type="application/json",
        HTTP_X_SINCH_SIGNATURE=tampered_sig,
    )
    assert tampered.status_code == 401
    job.refresh_from_db()
    assert job.next_attempt_at > timezone.now() and len(queued) == queued_before  # nothing nudged

    good = client.post(
        "/providers/sinch/callback", body, content_type="application/json", HTTP_X_SINCH_SIGNATURE=tampered_sig
    )
    assert good.status_code == 200 and good.json()["jobs"] == [job.pk]
    assert queued[-1] == (job.pk, None)
    job.refresh_from_db()
    assert job.next_attempt_at <= timezone.now()
    # The worker does not believe the callback: it confirms with a GET (still provisioning here).
    sim.clear_requests()
    assert run_job(job.pk) == SyncJobStatus.PROVISIONING
    assert [r["method"] for r in sim.recorded_requests()] == ["GET"]
    sim.configure(provisioning_seconds=0)
    SyncJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
    assert run_job(job.pk) == SyncJobStatus.SYNCED


def test_sinch_callback_rejects_malformed_events(client):
    body = b'{"eventId": "x"}'
    response = client.post(
        "/providers/sinch/callback",
        body,
        content_type="application/json",
        HTTP_X_SINCH_SIGNATURE=sign_callback(body, "sim-callback-secret"),
    )
    assert response.status_code == 400


# --- Plivo rules ---------------------------------------------------------------------------


def test_plivo_push_is_accepted_with_202_and_read_back(sim, make_linked_phone, operator):
    phone = make_linked_phone(sim, "plivo", {"alias": "acme", "app_id": "app-9"})
    run_due()
    requests = sim.recorded_requests("plivo")
    assert [(r["method"], r["status"]) for r in requests] == [("GET", 200), ("POST", 202), ("GET", 200)]
    assert requests[1]["path"] == "/v1/Account/MASIMULATOR000000001/Number/12025550143/"
    assert requests[1]["body"] == {"alias": "acme", "app_id": "app-9"}
    job = SyncJob.objects.get()
    assert job.status == SyncJobStatus.SYNCED
    (entry,) = sync_entries(phone)
    assert_outcome_entry(entry, phone, job, operator, event=AuditEvent.PHONE_SYNC_SUCCEEDED, status="synced")


def test_plivo_compliance_change_is_refused_locally_unless_allowed(sim, make_linked_phone, operator):
    phone = make_linked_phone(
        sim,
        "plivo",
        {"compliance_application_id": "ca-2"},
        remote={"compliance_application_id": "ca-1", "compliance_status": "approved"},
    )
    run_due()
    job = SyncJob.objects.get()
    assert job.status == SyncJobStatus.FAILED and job.attempts == 1  # permanent: no retry
    assert "compliance" in job.last_error and job.last_error_codes == ["COMPLIANCE_LOCKED"]
    assert writes(sim, "plivo") == []  # refused before anything was sent
    (entry,) = sync_entries(phone)
    assert_outcome_entry(entry, phone, job, operator, event=AuditEvent.PHONE_SYNC_FAILED, status="failed")
    assert "compliance" in entry.payload["object"]["message"]

    # Once the compliance status allows it (rejected), the change goes through.
    sim.seed("plivo", US_E164, compliance_application_id="ca-1", compliance_status="rejected")
    links.phone_resync(actor=Actor.of(operator), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    run_due()
    assert [r["body"] for r in writes(sim, "plivo")] == [{"compliance_application_id": "ca-2"}]
    assert SyncJob.objects.order_by("-id").first().status == SyncJobStatus.SYNCED


def test_plivo_subaccount_move_needs_main_account_credentials(sim, make_linked_phone, operator, settings):
    sub_id, sub_token = next(iter(sim.plivo_subaccounts.items()))
    settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = sub_id, sub_token
    phone = make_linked_phone(sim, "plivo", {"subaccount": "SAOTHERSUBACCOUNT001"})
    run_due()
    job = SyncJob.objects.get()
    assert job.status == SyncJobStatus.FAILED and job.last_error_codes == ["SUBACCOUNT_MOVE_NEEDS_MAIN_ACCOUNT"]
    assert writes(sim, "plivo") == []

    settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = sim.plivo_auth_id, sim.plivo_auth_token
    links.phone_resync(actor=Actor.of(operator), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    run_due()
    assert [r["body"] for r in writes(sim, "plivo")] == [{"subaccount": "SAOTHERSUBACCOUNT001"}]
    assert sim.number_state("plivo", US_E164)["sub_account"] == "SAOTHERSUBACCOUNT001"


# --- Errors, retries, attempts -------------------------------------------------------------


def test_500_then_200_retries_with_backoff_and_syncs(sim, make_linked_phone, queued):
    sim.add_fault(kind="status", provider="plivo", method="POST", status=500, count=1)
    make_linked_phone(sim, "plivo", {"alias": "acme"})
    job = SyncJob.objects.get()
    assert run_job(job.pk) == SyncJobStatus.PENDING
    job.refresh_from_db()
    assert job.last_status == 500 and "Simulated fault" in job.last_error
    delay = (job.next_attempt_at - timezone.now()).total_seconds()
    assert 0 < delay <= 0.2 and queued[-1][0] == job.pk and 0 < queued[-1][1] <= 0.2
    assert ProviderLink.objects.get().sync_state == SyncState.PENDING
    run_due()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (SyncJobStatus.SYNCED, 2)
    assert [r["status"] for r in writes(sim, "plivo")] == [500, 202]


def test_429_retry_after_is_honoured(sim, make_linked_phone, queued):
    sim.add_fault(kind="rate_limit", provider="sinch", method="PATCH", retry_after=3, count=1)
    make_linked_phone(sim, "sinch", {"display_name": "Acme"})
    job = SyncJob.objects.get()
    before = timezone.now()
    assert run_job(job.pk) == SyncJobStatus.PENDING
    job.refresh_from_db()
    assert job.next_attempt_at >= before + timedelta(seconds=3)  # above the 1 s backoff cap
    assert queued[-1][1] >= 2.9
    # Not due yet: a task arriving early does nothing.
    assert run_job(job.pk) == "skipped"
    run_due()
    assert SyncJob.objects.get().status == SyncJobStatus.SYNCED


def test_hang_times_out_and_retries(sim, make_linked_phone):
    sim.add_fault(kind="hang", provider="sinch", method="PATCH", hang_seconds=3, count=1)
    make_linked_phone(sim, "sinch", {"display_name": "Acme"})
    job = SyncJob.objects.get()
    assert run_job(job.pk) == SyncJobStatus.PENDING
    attempt = SyncAttempt.objects.filter(job=job, method="PATCH").get()
    assert attempt.response_status is None and attempt.error.startswith("timeout")
    assert 900 <= attempt.duration_ms < 2500
    run_due()
    assert SyncJob.objects.get().status == SyncJobStatus.SYNCED


def test_400_fails_at_once_with_the_providers_message(sim, make_linked_phone, operator):
    sim.add_fault(
        kind="status",
        provider="sinch",
        method="PATCH",
        status=400,
        body={"error": {"code": 400, "message": "Number is not SMS capable", "status": "INVALID_ARGUMENT"}},
    )
    phone = make_linked_phone(sim, "sinch", {"display_name": "Acme"})
    run_due()
    job = SyncJob.objects.get()
    assert (job.status, job.attempts, job.last_status) == (SyncJobStatus.FAILED, 1, 400)
    assert job.last_error == "Number is not SMS capable" and job.last_error_codes == ["INVALID_ARGUMENT"]
    link = ProviderLink.objects.get()
    assert (link.sync_state, link.last_error, link.last_status) == ("failed", "Number is not SMS capable", 400)
    (entry,) = sync_entries(phone)
    assert_outcome_entry(entry, phone, job, operator, event=AuditEvent.PHONE_SYNC_FAILED, status="failed")
    assert entry.payload["object"]["provider_status"] == 400


def test_retries_stop_at_the_limit_and_fail_visibly(sim, make_linked_phone):
    sim.add_fault(kind="status", provider="plivo", status=503, count=None)
    phone = make_linked_phone(sim, "plivo", {"alias": "acme"})
    run_due()
    job = SyncJob.objects.get()
    assert (job.status, job.attempts, job.last_status) == (SyncJobStatus.FAILED, 3, 503)
    assert ProviderLink.objects.get().sync_state == SyncState.FAILED
    assert len(sync_entries(phone, AuditEvent.PHONE_SYNC_FAILED)) == 1


def test_attempts_are_recorded_with_secrets_masked(sim, make_linked_phone, settings):
    make_linked_phone(sim, "sinch", {"display_name": "Acme", "callback_url": "https://cb.example/x"})
    run_due()
    attempts = list(SyncAttempt.objects.order_by("id"))
    assert [(a.method, a.response_status) for a in attempts] == [("GET", 200), ("PATCH", 200)]
    patch = attempts[1]
    assert patch.url.endswith("/v1/projects/sim-project/activeNumbers/%2B5511912345678")
    assert patch.request_body == {"displayName": "Acme", "callbackUrl": "https://cb.example/x"}
    assert '"displayName": "Acme"' in patch.response_body and patch.duration_ms > 0
    auth = {k.lower(): v for k, v in patch.request_headers.items()}["authorization"]
    assert auth == "Basic ***"
    stored = json.dumps([[a.url, a.request_headers, a.request_body, a.response_body] for a in attempts])
    assert settings.SINCH_KEY_SECRET not in stored


# --- Exactly once after success, coalescing, leases ----------------------------------------


def test_a_synced_job_is_never_pushed_again(sim, make_linked_phone):
    make_linked_phone(sim, "plivo", {"alias": "acme"})
    run_due()
    job = SyncJob.objects.get()
    count = len(sim.recorded_requests())
    for _ in range(3):  # duplicate task deliveries (sweeper + on-commit + redelivery)
        assert run_job(job.pk) == "skipped"
    assert sweeper.requeue_due() == 0
    assert len(sim.recorded_requests()) == count


def test_newest_desired_state_wins(sim, make_linked_phone, operator):
    phone = make_linked_phone(sim, "plivo", {"alias": "first"})
    for alias in ("second", "third"):
        links.provider_link_set(
            actor=Actor.of(operator),
            context=CTX,
            account_id=phone.account_id,
            phone_id=phone.pk,
            provider="plivo",
            settings={"alias": alias},
        )
    run_due()
    assert list(SyncJob.objects.order_by("id").values_list("status", flat=True)) == [
        "superseded",
        "superseded",
        "synced",
    ]
    assert [r["body"] for r in writes(sim, "plivo")] == [{"alias": "third"}]


def test_a_worker_that_lost_its_lease_does_not_decide(sim, make_linked_phone, settings):
    # A lease within the check's margin: every check asks the database, so the lapse this test
    # writes there is seen (a real lapse is seen by the worker's own clock as well).
    settings.SYNC_LEASE_SECONDS = 1.5
    make_linked_phone(sim, "plivo", {"alias": "acme"})
    job = SyncJob.objects.get()
    first = claim_one(job.pk)
    assert claim_one(job.pk) is None  # leased: nobody else may take it
    # The first worker is presumed dead: its lease ran out; the sweeper hands the job on.
    SyncJob.objects.filter(pk=job.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert sweeper.requeue_due() == 1
    second = claim_one(job.pk)
    assert second is not None and second.try_number == 2
    assert record_one(second, *push_one(second)) == SyncJobStatus.SYNCED
    # The first worker comes back late: its claim no longer holds, so it sends nothing (fencing)
    # and decides nothing.
    sent = len(sim.recorded_requests())
    assert record_one(first, *push_one(first)) == "stale"
    job.refresh_from_db()
    assert job.status == SyncJobStatus.SYNCED and len(sim.recorded_requests()) == sent


def test_jobs_of_one_link_run_in_order(sim, make_linked_phone, operator):
    phone = make_linked_phone(sim, "sinch", {"sms_service_plan_id": "plan-a"})
    phone_update(
        actor=Actor.of(operator),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        data={"number": "99999-0000"},
    )
    sim.seed("sinch", "+5511999990000")
    link_job, release, change = SyncJob.objects.order_by("id")
    assert link_job.status == "superseded"  # it targeted the old number, like the release
    assert run_job(change.pk) == "skipped"  # the release goes first
    run_due()
    release.refresh_from_db()
    change.refresh_from_db()
    assert (release.status, change.status) == ("synced", "synced")
    assert sim.number_state("sinch", BR_E164)["smsConfiguration"]["servicePlanId"] == ""
    assert sim.number_state("sinch", "+5511999990000")["smsConfiguration"]["servicePlanId"] == "plan-a"


def test_releasing_a_number_the_provider_no_longer_has_is_done(sim, make_linked_phone, operator):
    phone = make_linked_phone(sim, "plivo", {"alias": "acme"})
    run_due()
    sim.reset()  # the provider forgot the number
    links.provider_link_remove(actor=Actor.of(operator), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    run_due()
    assert SyncJob.objects.order_by("-id").first().status == SyncJobStatus.SYNCED


# --- Sweeper and reconciliation ------------------------------------------------------------


def test_sweeper_requeues_only_due_and_abandoned_jobs(sim, make_linked_phone, queued, settings):
    make_linked_phone(sim, "plivo", {"alias": "acme"})
    job = SyncJob.objects.get()
    queued.clear()
    settings.SYNC_SWEEP_GRACE_SECONDS = 60
    assert sweeper.requeue_due() == 0  # just queued on commit: left to that task
    settings.SYNC_SWEEP_GRACE_SECONDS = 0
    assert sweeper.requeue_due() == 1 and queued == [(job.pk, None)]
    claim = claim_one(job.pk)
    assert claim is not None and sweeper.requeue_due() == 0  # in progress, lease valid
    SyncJob.objects.filter(pk=job.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert sweeper.requeue_due() == 1 and queued[-1] == (job.pk, None)


def test_reconciliation_flags_drift_without_overwriting(sim, make_linked_phone):
    phone = make_linked_phone(sim, "sinch", {"display_name": "Acme", "sms_service_plan_id": "plan-a"})
    run_due()
    assert reconcile.reconcile_links() == {"checked": 1, "drift": 0, "errors": 0}
    link = ProviderLink.objects.get()
    assert link.drift == {} and link.drift_checked_at is not None
    # Someone changed the number at the provider.
    sim.seed("sinch", phone.e164, displayName="Hijacked", smsConfiguration={"servicePlanId": "plan-x"})
    sim.clear_requests()
    assert reconcile.reconcile_links()["drift"] == 1
    link.refresh_from_db()
    assert link.drift == {
        "display_name": {"ours": "Acme", "theirs": "Hijacked"},
        "sms_service_plan_id": {"ours": "plan-a", "theirs": "plan-x"},
    }
    assert link.drift_detected_at is not None and link.sync_state == SyncState.SYNCED
    # Nothing was overwritten on either side, and no job was queued.
    assert [r["method"] for r in sim.recorded_requests()] == ["GET"]
    assert link.settings["sms_service_plan_id"] == "plan-a" and SyncJob.objects.count() == 1
    # An operator re-sync pushes ours; the drift clears.
    links.phone_resync(
        actor=Actor.of(phone_operator(phone)), context=CTX, account_id=phone.account_id, phone_id=phone.pk
    )
    run_due()
    link.refresh_from_db()
    assert link.drift == {} and link.sync_state == SyncState.SYNCED


def phone_operator(phone):
    from backoffice.models import User

    return User.objects.get(email="sync.operator@bank.example")


# --- Batches: a task that finds a backlog takes it --------------------------------------------


def _linked_plivo_phones(sim, make_linked_phone, count):
    return linked_plivo_phones(sim, make_linked_phone, count, account=500, numbers="555-01", alias="acme")


def test_a_batch_claims_the_oldest_due_jobs_once_and_pushes_them(sim, make_linked_phone, operator, settings):
    phones = _linked_plivo_phones(sim, make_linked_phone, 5)
    jobs = list(SyncJob.objects.order_by("id"))
    # Not due yet: left alone. A second job of one link waits behind the first.
    SyncJob.objects.filter(pk=jobs[4].pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    phone_update(
        actor=Actor.of(operator),
        context=CTX,
        account_id=phones[0].account_id,
        phone_id=phones[0].pk,
        data={"extension": "7"},
    )
    assert SyncJob.objects.get(pk=jobs[0].pk).status == SyncJobStatus.SUPERSEDED  # newest state wins

    first = claims.claim_jobs(jobs[1].pk, limit=2)
    second = claims.claim_jobs(jobs[1].pk, limit=10)  # what is left: nothing claimed twice
    claimed = [c.job_id for c in first + second]
    newest = SyncJob.objects.order_by("-id").first()
    assert [c.job_id for c in first] == [jobs[1].pk, jobs[2].pk]
    assert sorted(claimed) == sorted([jobs[1].pk, jobs[2].pk, jobs[3].pk, newest.pk])
    assert claims.claim_jobs(jobs[4].pk, limit=10) == []
    assert {c.token for c in first} != {c.token for c in second}
    link = ProviderLink.objects.get(phone=phones[1])
    assert link.sync_state == SyncState.IN_PROGRESS and link.last_attempt_at is not None

    statuses = recording.record(delivery.push(first + second))
    assert statuses == [SyncJobStatus.SYNCED] * 4
    assert sorted(r["body"]["alias"] for r in writes(sim, "plivo")) == ["acme-0", "acme-1", "acme-2", "acme-3"]
    for job_id, phone in zip(claimed, [phones[1], phones[2], phones[3], phones[0]], strict=True):
        job = SyncJob.objects.get(pk=job_id)
        (entry,) = sync_entries(phone)
        assert_outcome_entry(entry, phone, job, operator, event=AuditEvent.PHONE_SYNC_SUCCEEDED, status="synced")
        assert job.attempts == 1 and job.locked_until is None and job.finished_at is not None
        assert SyncAttempt.objects.filter(job=job).count() == 3  # GET, POST, GET
        link = ProviderLink.objects.get(phone=phone)
        assert link.sync_state == SyncState.SYNCED and link.pushed_settings == job.desired
    from audit.integrity import audit_verify

    assert list(audit_verify()) == []


@pytest.mark.postgres  # statement counts of the production database (SQLite splits one statement)
def test_recording_a_batch_costs_a_fixed_number_of_statements(sim, make_linked_phone, queued):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from psycopg import pq

    _linked_plivo_phones(sim, make_linked_phone, 6)
    counts, pipelined = [], []

    def keep(execute, sql, params, many, context):
        pipelined.append(connection.connection.pgconn.pipeline_status == pq.PipelineStatus.ON)
        return execute(sql, params, many, context)

    for limit in (1, 5):
        batch = claims.claim_jobs(SyncJob.objects.filter(status="pending").order_by("id").first().pk, limit=limit)
        assert len(batch) == limit
        outcomes = delivery.push(batch)
        with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(keep):
            assert recording.record(outcomes) == [SyncJobStatus.SYNCED] * limit
        counts.append(len(ctx.captured_queries))
    # One job: BEGIN, 3 locks (compiled), one statement for attempts, job, link, entry and head,
    # COMMIT. A batch the same, whatever its size: its locks are compiled too, and its attempts,
    # jobs, links, entries and heads go in one statement (``backoffice.db_writes.write_many``).
    assert counts == [6, 6]
    # The BEGIN and the three locks go in one round trip (a pipeline), the write after them.
    assert pipelined == [True, True, True, False] * 2


def test_a_stale_claim_in_a_batch_does_not_decide_for_its_job(sim, make_linked_phone):
    _linked_plivo_phones(sim, make_linked_phone, 2)
    a, b = SyncJob.objects.order_by("id")
    batch = claims.claim_jobs(a.pk, limit=5)
    outcomes = delivery.push(batch)
    # b's worker was presumed dead and b handed on meanwhile.
    SyncJob.objects.filter(pk=b.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    retaken = claim_one(b.pk)
    assert recording.record(outcomes) == [SyncJobStatus.SYNCED, "stale"]
    b.refresh_from_db()
    assert b.status == SyncJobStatus.IN_PROGRESS and b.claim_token == retaken.token
    assert SyncAttempt.objects.filter(job=b, try_number=1).count() == 3  # its attempts are kept


def test_deliver_reports_the_own_job_or_skipped(sim, make_linked_phone, settings):
    settings.SYNC_BATCH_SIZE = 4
    _linked_plivo_phones(sim, make_linked_phone, 3)
    a, _, c = SyncJob.objects.order_by("id")
    assert delivery.deliver([c.pk]) == {c.pk: SyncJobStatus.SYNCED}  # took a, b and c in one batch
    assert set(SyncJob.objects.values_list("status", flat=True)) == {SyncJobStatus.SYNCED}
    assert delivery.deliver([a.pk]) == {a.pk: "skipped"}
