"""A link's sync status in words: each state's text at fixed times, and the job it is read from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from audit.models import Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from phones.models import ProviderLink, SyncJob, SyncJobStatus, SyncReason, SyncState
from phones.sync_status import describe, latest_job, prefetch_latest_job
from phones.tests.factories import PhoneFactory
from provider_sync import links


def at(hour: int, minute: int, second: int = 0, day: int = 10) -> datetime:
    return datetime(2025, 3, day, hour, minute, second, tzinfo=UTC)


NOW = at(14, 51, 30)


@pytest.fixture(autouse=True)
def _fixed_settings(settings):
    settings.TIME_ZONE = "UTC"
    settings.SYNC_MAX_ATTEMPTS = 8


def link(**values) -> ProviderLink:
    return ProviderLink(pk=1, provider="sinch", remote_number="+5511912345678", **values)


def job(**values) -> SyncJob:
    defaults = {
        "pk": 10,
        "link_id": 1,
        "provider": "sinch",
        "number": "+5511912345678",
        "reason": SyncReason.LINK,
        "desired": {},
        "created_at": at(14, 50),
        "updated_at": at(14, 50),
        "next_attempt_at": at(14, 50),
    }
    return SyncJob(**{**defaults, **values})


def test_pending_waits_for_the_provider_or_its_next_try():
    status = describe(link(), job(), now=NOW)
    assert (status.state, status.text) == ("pending", "pending since 14:50, waiting for Sinch")
    assert (status.attempt, status.max_attempts, status.since, status.next_attempt_at) == (1, 8, at(14, 50), at(14, 50))
    assert status.last_attempt_at is None and status.last_status is None and status.last_error == ""
    later = describe(link(), job(next_attempt_at=at(14, 53)), now=NOW)
    assert later.text == "pending since 14:50, next try at 14:53"


def test_retrying_names_the_attempt_the_last_error_and_the_next_try():
    retrying = job(
        attempts=1,
        last_status=503,
        last_error="Service Unavailable",
        updated_at=at(14, 51),
        next_attempt_at=at(14, 52),
    )
    status = describe(link(last_attempt_at=at(14, 51)), retrying, now=NOW)
    assert status.state == "retrying"
    assert status.text == "retrying, attempt 2 of 8, last error 503 at 14:51, next try at 14:52"
    assert (status.attempt, status.last_status, status.last_error) == (2, 503, "Service Unavailable")
    assert (status.last_attempt_at, status.next_attempt_at, status.since) == (at(14, 51), at(14, 52), at(14, 50))
    # A network error has no status: the start of its message instead.
    timeout = job(attempts=3, last_error="Read timed out", updated_at=at(14, 51), next_attempt_at=at(14, 52))
    assert describe(link(), timeout, now=NOW).text == (
        'retrying, attempt 4 of 8, last error "Read timed out" at 14:51, next try at 14:52'
    )


def test_in_progress_names_the_attempt_and_since_when():
    running = job(status=SyncJobStatus.IN_PROGRESS, attempts=2, updated_at=at(14, 51), locked_until=at(14, 52))
    status = describe(link(last_attempt_at=at(14, 51)), running, now=NOW)
    assert (status.state, status.text) == ("in_progress", "in progress at Sinch, attempt 2 of 8, since 14:51")
    assert (status.attempt, status.since, status.next_attempt_at) == (2, at(14, 51), None)
    # The worker died: its lease ran out.
    lost = describe(link(last_attempt_at=at(14, 51)), running, now=at(14, 53))
    assert lost.text == (
        "in progress at Sinch, attempt 2 of 8, since 14:51; "
        "its worker stopped answering at 14:52, the push will be taken over"
    )


def test_provisioning_says_since_when_and_the_next_check():
    provisioning = job(
        status=SyncJobStatus.PROVISIONING,
        attempts=1,
        polls=2,
        provisioning_started_at=at(14, 50),
        next_attempt_at=at(14, 53),
    )
    status = describe(link(sync_state=SyncState.PROVISIONING), provisioning, now=NOW)
    assert (status.state, status.text) == ("provisioning", "provisioning at Sinch since 14:50, next check at 14:53")
    assert (status.since, status.next_attempt_at, status.attempt) == (at(14, 50), at(14, 53), 1)


def test_synced_says_when():
    synced = job(status=SyncJobStatus.SYNCED, attempts=1, finished_at=at(14, 51))
    status = describe(link(last_synced_at=at(14, 51)), synced, now=NOW)
    assert (status.state, status.text, status.since) == ("synced", "synced at 14:51", at(14, 51))
    retried = job(status=SyncJobStatus.SYNCED, attempts=3, finished_at=at(14, 51))
    assert describe(link(), retried, now=NOW).text == "synced at 14:51 (after 3 attempts)"


def test_failed_keeps_the_providers_message_status_and_codes():
    failed = job(
        status=SyncJobStatus.FAILED,
        attempts=1,
        last_status=400,
        last_error="Invalid smsConfiguration.servicePlanId",
        last_error_codes=["INVALID_ARGUMENT", "SERVICE_PLAN"],
        finished_at=at(14, 51),
    )
    status = describe(link(), failed, now=NOW)
    assert status.state == "failed"
    assert status.text == (
        "failed: Invalid smsConfiguration.servicePlanId (status 400, codes INVALID_ARGUMENT, SERVICE_PLAN) at 14:51"
    )
    assert (status.last_status, status.last_error, status.since) == (
        400,
        "Invalid smsConfiguration.servicePlanId",
        at(14, 51),
    )
    gave_up = job(
        status=SyncJobStatus.FAILED, attempts=8, last_status=503, last_error="Unavailable", finished_at=at(14, 51)
    )
    assert describe(link(), gave_up, now=NOW).text == "failed after 8 attempts: Unavailable (status 503) at 14:51"


def test_unlinked_says_what_became_of_the_number():
    unlinked = link(linked=False)
    assert describe(unlinked, None, now=NOW).text == "unlinked"
    releasing = describe(unlinked, job(reason=SyncReason.UNLINK), now=NOW)
    assert (releasing.state, releasing.text) == (
        "unlinked",
        "unlinked, releasing the number at Sinch: pending since 14:50, waiting for Sinch",
    )
    released = describe(unlinked, job(status=SyncJobStatus.SYNCED, attempts=1, finished_at=at(14, 51)), now=NOW)
    assert released.text == "unlinked, number released at Sinch at 14:51"
    refused = job(
        status=SyncJobStatus.FAILED, attempts=1, last_status=403, last_error="Forbidden", finished_at=at(14, 51)
    )
    assert (
        describe(unlinked, refused, now=NOW).text
        == "unlinked, releasing the number failed: Forbidden (status 403) at 14:51"
    )


def test_without_a_job_the_link_says_what_it_knows():
    assert describe(link(), None, now=NOW).text == "pending"
    assert (
        describe(link(sync_state=SyncState.SYNCED, last_synced_at=at(14, 40)), None, now=NOW).text == "synced at 14:40"
    )
    failed = link(
        sync_state=SyncState.FAILED, last_status=404, last_error="Number not found", last_attempt_at=at(14, 41)
    )
    assert describe(failed, None, now=NOW).text == "failed: Number not found (status 404) at 14:41"
    running = describe(link(sync_state=SyncState.IN_PROGRESS, last_attempt_at=at(14, 42)), None, now=NOW)
    assert (running.text, running.attempt) == ("in progress at Sinch since 14:42", None)


def test_times_are_local_with_the_date_when_not_today(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # UTC-3
    synced = job(status=SyncJobStatus.SYNCED, attempts=1, finished_at=at(14, 51))
    assert describe(link(), synced, now=NOW).text == "synced at 11:51"
    yesterday = job(status=SyncJobStatus.SYNCED, attempts=1, finished_at=at(14, 51, day=9))
    assert describe(link(), yesterday, now=NOW).text == "synced at 2025-03-09 11:51"
    # 01:00 UTC is still the day before in São Paulo.
    assert describe(link(), synced, now=at(1, 0, day=11)).text == "synced at 11:51"


def test_a_long_provider_message_is_shortened_in_the_text_only():
    message = "x" * 500
    failed = job(status=SyncJobStatus.FAILED, attempts=1, last_status=500, last_error=message, finished_at=at(14, 51))
    status = describe(link(), failed, now=NOW)
    assert len(status.text) < 220 and status.last_error == message


# --- The job a link is described from -------------------------------------------------------


@pytest.fixture
def linked(make_operator):
    operator = make_operator("backoffice-operator")
    actor, context = Actor.of(operator), AuditContext(origin=Origin.COMMAND)

    def make(count: int = 1) -> list[ProviderLink]:
        made = []
        for _ in range(count):
            phone = PhoneFactory(actor=operator)
            made.append(
                links.provider_link_set(
                    actor=actor,
                    context=context,
                    account_id=phone.account_id,
                    phone_id=phone.pk,
                    provider="sinch",
                    settings={},
                )
            )
        return made

    return make


@pytest.mark.django_db
def test_latest_job_is_the_newest_open_one_else_the_newest(linked, django_assert_num_queries):
    (one,) = linked()
    first = SyncJob.objects.get(link=one)
    done = timezone.now()
    newer = SyncJob.objects.create(
        link=one,
        phone_id=one.phone_id,
        provider="sinch",
        number="+5511900000000",
        reason=SyncReason.RELEASE,
        desired={},
        status=SyncJobStatus.SYNCED,
        next_attempt_at=done,
        finished_at=done,
    )
    with django_assert_num_queries(1):
        assert latest_job(one) == first  # open, though older
    SyncJob.objects.filter(pk=first.pk).update(status=SyncJobStatus.FAILED)
    first.refresh_from_db()
    with django_assert_num_queries(1):
        assert latest_job(one) == newer
    # Jobs fetched already: no query.
    with django_assert_num_queries(0):
        assert latest_job(one, [first, newer]) == newer
        assert latest_job(one, []) is None


@pytest.mark.django_db
def test_prefetch_reads_every_links_job_in_one_statement(linked, django_assert_num_queries):
    made = linked(3)
    with django_assert_num_queries(2):  # the links, their jobs
        fetched = list(ProviderLink.objects.filter(pk__in=[m.pk for m in made]).prefetch_related(prefetch_latest_job()))
        statuses = [describe(each, latest_job(each)) for each in fetched]
    assert [s.state for s in statuses] == ["pending"] * 3
    assert {latest_job(each).link_id for each in fetched} == {m.pk for m in made}
