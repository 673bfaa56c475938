"""Link, unlink, re-sync and the outbox: one transaction each, audited, job queued on commit."""

from __future__ import annotations

import logging
from itertools import pairwise

import pytest
from django.db import connection

from audit.models import AuditEntry, AuditEvent
from backoffice.actor import Actor
from phones import outbox
from phones.errors import OperatorNotAllowed, PhoneInactive, PhoneNotLinked, PhoneValidationError
from phones.models import ProviderLink, SyncJob, SyncJobStatus, SyncReason, SyncState
from phones.services import phone_create, phone_inactivate, phone_update
from provider_sync import checks, delivery, links
from provider_sync.checks import NO_E164
from provider_sync.tests.conftest import BR_E164, BR_NUMBER, CTX

pytestmark = pytest.mark.django_db
SINCH = {"display_name": "Acme", "sms_service_plan_id": "plan-a", "voice_type": "RTC", "voice_target_id": "app-1"}


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


@pytest.fixture
def phone(boss):
    return phone_create(actor=Actor.of(boss), context=CTX, **BR_NUMBER)


def link(actor, phone, provider="sinch", settings=None, **kwargs):
    return links.provider_link_set(
        actor=Actor.of(actor),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider=provider,
        settings=SINCH if settings is None else settings,
        **kwargs,
    )


def entries(phone):
    return list(AuditEntry.objects.filter(phone=phone).order_by("id"))


def test_link_writes_link_audit_entry_and_job_queued_on_commit(boss, phone, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        created = link(boss, phone)
    assert created.number_e164 == BR_E164 and created.remote_number == ""
    assert created.settings == {**SINCH, "sms_campaign_id": None, "callback_url": None}
    assert created.sync_state == SyncState.PENDING
    job = SyncJob.objects.get()
    assert (job.provider, job.number, job.reason, job.status) == ("sinch", BR_E164, SyncReason.LINK, "pending")
    assert job.desired == created.settings and job.previous is None
    assert (job.operator_email, job.operator_roles, job.origin) == (boss.email, ["backoffice-operator"], "API")
    assert len(callbacks) == 1 and isinstance(callbacks[0], outbox.CommitBatch) and callbacks[0].job_ids == [job.pk]
    first, second = entries(phone)
    assert second.event == AuditEvent.PHONE_LINK_CHANGE and second.prev_hash == first.hash
    assert second.payload == {
        "method": "PUT",
        "uri": "/v1/accounts/:accountId/phones/:phoneId/provider-link",
        "email": boss.email,
        "roles": ["backoffice-operator"],
        "origin": "API",
        "object": {
            "phone_id": phone.pk,
            "account_id": phone.account_id,
            "provider": "sinch",
            "remote_number": "",
            "number": BR_E164,
            "linked": True,
            "settings": created.settings,
        },
    }
    assert second.changes["provider"] == [None, "sinch"]


def test_same_link_again_writes_nothing(boss, phone):
    link(boss, phone)
    link(boss, phone)
    assert SyncJob.objects.count() == 1 and len(entries(phone)) == 2


@pytest.mark.parametrize(
    ("provider", "values", "field"),
    [
        ("sinch", {"voice_type": "SIP", "voice_target_id": "x"}, "settings.voice_type"),
        ("sinch", {"voice_type": "RTC"}, "settings.voice_target_id"),
        ("sinch", {"sms_campaign_id": "c1"}, "settings.sms_campaign_id"),
        ("sinch", {"callback_url": "ftp://x"}, "settings.callback_url"),
        ("sinch", {"alias": "x"}, "settings.alias"),
        ("plivo", {"subaccount": "XX123"}, "settings.subaccount"),
        ("plivo", {"app_id": 12}, "settings.app_id"),
        ("skype", {}, "provider"),
    ],
)
def test_settings_are_validated_per_provider(boss, phone, provider, values, field):
    with pytest.raises(PhoneValidationError) as caught:
        link(boss, phone, provider=provider, settings=values)
    assert caught.value.field == field
    assert not ProviderLink.objects.exists() and not SyncJob.objects.exists()


def test_remote_number_must_be_e164(boss, phone):
    with pytest.raises(PhoneValidationError) as caught:
        link(boss, phone, remote_number="11 91234")
    assert caught.value.field == "remote_number"


@pytest.mark.parametrize("role", ["crm-operator", "itinivel1-operator", "treasury-operator"])
def test_linking_needs_manage_provider_link(make_operator, phone, role):
    with pytest.raises(OperatorNotAllowed):
        link(make_operator(role), phone)


def test_resync_needs_the_right_and_a_link(make_operator, boss, phone):
    with pytest.raises(PhoneNotLinked):
        links.phone_resync(actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    link(boss, phone)
    with pytest.raises(OperatorNotAllowed):
        links.phone_resync(
            actor=Actor.of(make_operator("crm-operator")), context=CTX, account_id=phone.account_id, phone_id=phone.pk
        )
    # itinivel1 may re-sync but not link.
    job = links.phone_resync(
        actor=Actor.of(make_operator("itinivel1-operator", email="n1@bank.example")),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
    )
    assert job.reason == SyncReason.RESYNC and job.operator_email == "n1@bank.example"
    entry = entries(phone)[-1]
    assert entry.event == AuditEvent.PHONE_SYNC_REQUESTED
    assert entry.payload["method"] == "POST" and entry.payload["uri"].endswith("/phones/:phoneId/sync")
    assert entry.payload["object"]["job_id"] == job.pk


def test_phone_change_queues_sync_and_supersedes_open_jobs(boss, phone):
    link(boss, phone)
    first = SyncJob.objects.get()
    phone_update(
        actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data={"extension": "12"}
    )
    first.refresh_from_db()
    second = SyncJob.objects.exclude(pk=first.pk).get()
    assert first.status == SyncJobStatus.SUPERSEDED and first.finished_at is not None
    assert second.reason == SyncReason.PHONE_CHANGE and second.status == SyncJobStatus.PENDING
    # The supersede is the unit of work's own SQL: its times are stored as the ORM stores them
    # (SQLite keeps text; a second format there would break comparisons of the column).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CAST(finished_at AS TEXT), CAST(updated_at AS TEXT), CAST(created_at AS TEXT) "
            "FROM phones_syncjob WHERE id = %s",
            [first.pk],
        )
        stored = cursor.fetchone()
    if connection.vendor == "sqlite":
        assert len({len(value) for value in stored}) == 1 and "+" not in "".join(stored), stored
    # The audit chain stays linear across phone and link entries.
    chain = entries(phone)
    assert [e.event for e in chain] == ["phone_creation", "phone_link_change", "phone_change"]
    assert all(b.prev_hash == a.hash for a, b in pairwise(chain))


def test_unlinked_phone_change_queues_nothing(boss, phone):
    phone_update(
        actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data={"extension": "12"}
    )
    assert not SyncJob.objects.exists()


def test_inactivation_releases_sms_and_voice(boss, phone):
    link(boss, phone)
    phone_inactivate(actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    job = SyncJob.objects.order_by("-id").first()
    assert job.reason == SyncReason.INACTIVATION
    assert job.desired["display_name"] == "Acme"
    assert [job.desired[k] for k in ("sms_service_plan_id", "sms_campaign_id", "voice_type", "voice_target_id")] == [
        None
    ] * 4
    with pytest.raises(PhoneInactive):
        link(boss, phone, settings={"display_name": "Other"})


def test_number_change_releases_the_old_number_first(boss, phone):
    link(boss, phone)
    phone_update(
        actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data={"number": "99999-0000"}
    )
    release, change = SyncJob.objects.filter(status="pending").order_by("id")
    assert (release.reason, release.number, release.desired["sms_service_plan_id"]) == ("release", BR_E164, None)
    assert (change.reason, change.number, change.desired["sms_service_plan_id"]) == (
        "phone_change",
        "+5511999990000",
        "plan-a",
    )


def test_pinned_remote_number_does_not_follow_the_phone(boss, phone):
    link(boss, phone, remote_number="+5511900000001")
    phone_update(
        actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data={"number": "99999-0000"}
    )
    assert set(SyncJob.objects.filter(status="pending").values_list("number", flat=True)) == {"+5511900000001"}


def test_unlink_releases_and_stops(boss, phone):
    link(boss, phone)
    removed = links.provider_link_remove(
        actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk
    )
    assert removed.linked is False
    job = SyncJob.objects.order_by("-id").first()
    assert job.reason == SyncReason.UNLINK and job.desired["voice_target_id"] is None
    assert entries(phone)[-1].event == AuditEvent.PHONE_UNLINK
    # Already unlinked: no write.
    links.provider_link_remove(actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    assert SyncJob.objects.count() == 2
    # A phone change no longer syncs.
    phone_update(
        actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data={"extension": "1"}
    )
    assert SyncJob.objects.count() == 2


def test_provider_switch_releases_at_the_old_provider(boss, phone):
    link(boss, phone)
    link(boss, phone, provider="plivo", settings={"alias": "acme", "app_id": "app-9"})
    jobs = list(SyncJob.objects.filter(status="pending").order_by("id"))
    assert [(j.provider, j.reason) for j in jobs] == [("sinch", "release"), ("plivo", "link_change")]
    assert jobs[1].previous is None


def test_broker_down_at_commit_keeps_the_change_and_the_pending_job(boss, phone, monkeypatch, caplog):
    """Publishing failing on commit must neither break the request nor lose the job."""
    from backoffice.celery import app

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker is down")

    monkeypatch.setattr(app, "send_task", broker_down)
    with caplog.at_level(logging.WARNING, logger="phones.sync"):
        created = link(boss, phone)
        job = SyncJob.objects.get()
        assert outbox.queue_delivery(job.pk) is False
    assert ProviderLink.objects.filter(pk=created.pk).exists() and job.status == SyncJobStatus.PENDING
    assert "the sweeper will deliver it" in caplog.text


# --- one transaction's jobs are published together ---------------------------------------------
@pytest.fixture
def published(monkeypatch):
    from backoffice.celery import app
    from phones.outbox import DELIVER_JOBS_TASK

    messages: list[list[int]] = []

    def send_task(name, args, **_):
        assert name == DELIVER_JOBS_TASK
        messages.append(args[0])

    monkeypatch.setattr(app, "send_task", send_task)
    return messages


def phones_of(boss, count):
    return [
        phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "number": f"9{n:04d}-0000"})
        for n in range(count)
    ]


def test_one_message_per_batch_of_a_transactions_jobs(boss, published, settings, django_capture_on_commit_callbacks):
    from django.db import transaction

    settings.SYNC_BATCH_SIZE = 4
    many = phones_of(boss, 10)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for each in many:
            link(boss, each)
    jobs = list(SyncJob.objects.order_by("id").values_list("pk", flat=True))
    assert len(callbacks) == 10 and len({id(hook) for hook in callbacks}) == 1  # one batch, one hook per job
    assert published == [jobs[0:4], jobs[4:8], jobs[8:10]]


def test_a_rolled_back_savepoint_takes_its_jobs_out_of_the_batch(boss, published, django_capture_on_commit_callbacks):
    from django.db import transaction

    kept, dropped, alone = phones_of(boss, 3)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            link(boss, dropped)
            raise RuntimeError("roll back the savepoint")
        link(boss, kept)
    assert published == [[SyncJob.objects.get(phone=kept).pk]]
    published.clear()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        transaction.atomic(),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        link(boss, alone)
        raise RuntimeError("roll back the savepoint")
    assert callbacks == [] and published == []  # nothing of it committed, nothing published


def test_a_job_whose_savepoint_rolled_back_inside_a_kept_batch_is_skipped_by_the_task(boss, phone, settings, queued):
    from django.db import transaction

    first, second = phones_of(boss, 2)
    with transaction.atomic():
        link(boss, first)
        batch = outbox.CommitBatch.current()
        with pytest.raises(RuntimeError), transaction.atomic():
            link(boss, second)
            raise RuntimeError("roll back the savepoint")
    assert len(batch.job_ids) == 2 and not SyncJob.objects.filter(pk=batch.job_ids[1]).exists()
    assert delivery.deliver([batch.job_ids[1]]) == {batch.job_ids[1]: "skipped"}


def test_link_and_unlink_write_the_phone_once_with_its_new_head(boss, phone):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from phones.models import Phone

    def phone_updates(queries):
        return [q["sql"] for q in queries if 'UPDATE "phones_phone"' in q["sql"]]

    with CaptureQueriesContext(connection) as linking:
        link(boss, phone)
    stored = Phone.objects.get(pk=phone.pk)
    assert stored.provider_linked and stored.audit_head == entries(phone)[-1].hash
    assert len(phone_updates(linking)) == 1, phone_updates(linking)
    with CaptureQueriesContext(connection) as unlinking:
        links.provider_link_remove(actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    stored = Phone.objects.get(pk=phone.pk)
    assert not stored.provider_linked and stored.audit_head == entries(phone)[-1].hash
    assert entries(phone)[-1].event == AuditEvent.PHONE_UNLINK
    assert len(phone_updates(unlinking)) == 1, phone_updates(unlinking)


def test_the_tasks_are_registered_under_the_names_the_outbox_publishes():
    from backoffice.celery import app
    from phones.outbox import DELIVER_JOB_TASK, DELIVER_JOBS_TASK
    from provider_sync import tasks

    assert (tasks.deliver_sync_job.name, tasks.deliver_sync_jobs.name) == (DELIVER_JOB_TASK, DELIVER_JOBS_TASK)
    assert {DELIVER_JOB_TASK, DELIVER_JOBS_TASK} <= set(app.tasks)


# --- Nothing implausible reaches a provider ---------------------------------------------------


@pytest.mark.parametrize(
    ("phone_values", "remote", "field", "number"),
    [
        ({"number": "9"}, "", "number", None),  # the phone's own number is too short for Brazil: no E.164
        ({}, "+55119", "remote_number", "+55119"),  # a remote number given: it is the one checked
        ({}, "+1202555014", "remote_number", "+1202555014"),
    ],
)
def test_an_impossible_number_cannot_be_linked_and_nothing_is_written(boss, phone_values, remote, field, number):
    target = phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "account_id": 7003, **phone_values})
    before = entries(target)
    with pytest.raises(PhoneValidationError) as caught:
        link(boss, target, remote_number=remote)
    assert caught.value.field == field
    assert caught.value.message == (
        f"This number cannot be linked to a provider: libphonenumber finds {number} impossible for its country."
        if number
        else NO_E164
    )
    assert not ProviderLink.objects.exists() and not SyncJob.objects.exists()
    assert entries(target) == before


def test_a_linked_phone_cannot_move_its_link_to_an_impossible_number(boss, phone):
    linked = link(boss, phone)
    before = entries(phone)
    with pytest.raises(PhoneValidationError) as caught:
        link(boss, phone, remote_number="+55119")
    assert caught.value.field == "remote_number"
    stored = ProviderLink.objects.get()
    assert (stored.remote_number, stored.settings) == ("", linked.settings)
    assert SyncJob.objects.count() == 1 and entries(phone) == before


def test_check_link_target_names_a_phone_without_e164():
    with pytest.raises(PhoneValidationError) as caught:
        checks.check_link_target(remote_number="", phone_e164=None)
    assert (caught.value.field, caught.value.message) == (
        "number",
        NO_E164,
    )
    assert checks.check_link_target(remote_number="", phone_e164=BR_E164) == BR_E164
    assert checks.check_link_target(remote_number="+12025550143", phone_e164="+55119") == "+12025550143"


def test_a_change_of_a_linked_phone_writes_phone_entry_and_job_in_one_statement(boss, phone):
    """The change's write and its job's are one statement on PostgreSQL (they were two): lock
    the phone, lock the link, read the last desired state, write."""
    from django.test.utils import CaptureQueriesContext

    from audit.integrity import audit_verify

    link(boss, phone, provider="plivo", settings={"alias": "home"})
    with CaptureQueriesContext(connection) as queries:
        phone_update(
            actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data={"extension": "12"}
        )
    writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "WITH"))]
    if connection.vendor == "postgresql":
        assert len(writes) == 1, writes
        assert all(table in writes[0] for table in ("phones_phone", "audit_auditentry", "phones_syncjob"))
    change = SyncJob.objects.filter(reason=SyncReason.PHONE_CHANGE).get()
    assert (change.status, change.operator_email) == (SyncJobStatus.PENDING, boss.email)
    last = entries(phone)[-1]
    assert (last.event, last.changes) == (AuditEvent.PHONE_CHANGE, {"extension": [None, "12"]})
    phone.refresh_from_db()
    assert phone.extension == "12" and phone.audit_head == last.hash
    assert list(audit_verify(phone_ids=[phone.pk])) == []


def test_a_linked_phone_changed_into_a_duplicate_writes_nothing(boss, phone):
    from phones.errors import PhoneAlreadyExists

    other = phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "number": "98888-0000"})
    link(boss, other, provider="plivo", settings={"alias": "home"})
    jobs, written = SyncJob.objects.count(), len(entries(other))
    state = ProviderLink.objects.get(phone=other).sync_state
    with pytest.raises(PhoneAlreadyExists):
        phone_update(
            actor=Actor.of(boss),
            context=CTX,
            account_id=other.account_id,
            phone_id=other.pk,
            data={"number": BR_NUMBER["number"]},
        )
    assert SyncJob.objects.count() == jobs and len(entries(other)) == written
    assert ProviderLink.objects.get(phone=other).sync_state == state
    other.refresh_from_db()
    assert other.number == "98888-0000"
