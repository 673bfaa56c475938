"""Sinch's signed callback (``POST /providers/sinch/callback``) refuses what a valid signature
alone would let through: a signed body replayed later (its timestamp left the window), one dated
ahead, one taken before (the replay cache). Refusals are 4xx, never 5xx, and act on nothing."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import caches
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from phones.models import SyncJob, SyncJobStatus
from provider_sync.adapters.sinch import SIGNATURE_HEADER, parse_callback_event, sign_callback
from provider_sync.callbacks import first_delivery
from provider_sync.checks import check_callback_timestamp
from provider_sync.tests.conftest import BR_E164, run_job
from simulator.callbacks import CallbackSender
from simulator.state import SimConfig

SECRET = "sim-callback-secret"
URL = "/providers/sinch/callback"
WINDOW = timedelta(minutes=5)


def signed_event(*, sent: datetime | str | None, event_id: str | None = None) -> bytes:
    event = {
        "eventId": event_id or str(uuid.uuid4()),
        "projectId": "sim-project",
        "resourceType": "ACTIVE_NUMBER",
        "resourceId": BR_E164,
        "eventType": "PROVISIONING_TO_SMS_PLATFORM",
        "status": "SUCCEEDED",
        "failureCode": "",
    }
    if sent is not None:
        event["timestamp"] = sent if isinstance(sent, str) else sent.isoformat().replace("+00:00", "Z")
    return json.dumps(event).encode()


def post(client, body: bytes):
    return client.post(URL, body, content_type="application/json", HTTP_X_SINCH_SIGNATURE=sign_callback(body, SECRET))


# --- The pure check ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("sent", ["2026-11-29T11:55:00Z", "2026-11-29T12:05:00.000Z", "2026-11-29T09:00:00-03:00"])
def test_a_timestamp_within_the_window_either_way_is_taken(sent):
    assert check_callback_timestamp(sent, now=NOW, window=WINDOW) == datetime.fromisoformat(sent)


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        ("2026-11-29T11:54:59Z", "more than 300 seconds from our clock"),  # replayed later
        ("2026-11-29T12:05:01Z", "more than 300 seconds from our clock"),  # dated ahead
        (None, "no timestamp"),
        ("", "no timestamp"),
        (1764417600, "no timestamp"),  # a number is not the ISO 8601 string Sinch sends
        ("yesterday", "not an ISO 8601"),
        ("2026-11-29T12:00:00", "no time zone"),
    ],
)
def test_a_timestamp_outside_the_window_or_unreadable_is_refused(sent, said):
    with pytest.raises(ValueError, match=said):
        check_callback_timestamp(sent, now=NOW, window=WINDOW)


# --- The view ------------------------------------------------------------------------------------


@pytest.fixture
def provisioning_job(sync_settings, sim, make_linked_phone, queued):
    """A Sinch job waiting on provisioning that only a callback makes due now."""
    sim.configure(provisioning_seconds=30)
    sync_settings.SYNC_PROVISIONING_POLL_SECONDS = 30
    make_linked_phone(sim, "sinch", {"sms_service_plan_id": "plan-a"})
    job = SyncJob.objects.get()
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == SyncJobStatus.PROVISIONING and job.next_attempt_at > timezone.now()
    queued.clear()
    return job


def assert_not_nudged(job, queued) -> None:
    job.refresh_from_db()
    assert job.next_attempt_at > timezone.now() and queued == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("age", "said"),
    [
        (timedelta(minutes=6), "more than 300 seconds from our clock"),
        (-timedelta(minutes=6), "more than 300 seconds from our clock"),
    ],
)
def test_a_signed_callback_out_of_the_window_is_refused(client, provisioning_job, queued, age, said):
    answer = post(client, signed_event(sent=timezone.now() - age))
    assert answer.status_code == 400 and said in answer.json()["message"]
    assert_not_nudged(provisioning_job, queued)


@pytest.mark.django_db(transaction=True)
def test_a_signed_callback_without_a_timestamp_is_refused(client, provisioning_job, queued):
    answer = post(client, signed_event(sent=None))
    assert (answer.status_code, answer.json()) == (400, {"message": "callback has no timestamp"})
    assert_not_nudged(provisioning_job, queued)


@pytest.mark.django_db(transaction=True)
def test_the_same_signed_callback_twice_is_taken_once(client, provisioning_job, queued):
    body = signed_event(sent=timezone.now())
    first = post(client, body)
    assert first.status_code == 200 and first.json()["jobs"] == [provisioning_job.pk]
    assert queued == [(provisioning_job.pk, None)]
    SyncJob.objects.filter(pk=provisioning_job.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    replayed = post(client, body)
    assert (replayed.status_code, replayed.json()) == (409, {"message": "Callback already received"})
    assert queued == [(provisioning_job.pk, None)]
    assert_not_nudged(provisioning_job, [])
    # Another event (another id, so another body and signature) is a new callback.
    assert post(client, signed_event(sent=timezone.now())).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_without_the_replay_cache_a_callback_is_acknowledged_and_acts_on_nothing(
    client, provisioning_job, queued, monkeypatch
):
    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(caches["replay"], "add", unreachable)
    answer = post(client, signed_event(sent=timezone.now()))
    assert answer.status_code == 200 and answer.json()["jobs"] == []
    assert_not_nudged(provisioning_job, queued)


def test_a_callback_is_remembered_until_its_timestamp_leaves_the_window(monkeypatch):
    kept = {}

    def add(key, value, timeout):
        kept[key] = timeout
        return True

    monkeypatch.setattr(caches["replay"], "add", add)
    now = timezone.now()
    # Dated 4 minutes ahead: the window check takes it for 9 more minutes, so must the cache.
    assert first_delivery(b"{}", sent_at=now + timedelta(minutes=4), now=now, window=WINDOW) is True
    assert first_delivery(b"[]", sent_at=now - timedelta(minutes=4), now=now, window=WINDOW) is True
    assert sorted(kept.values()) == [60, 540]


# --- The simulator stamps what it sends ----------------------------------------------------------


def test_the_simulator_stamps_a_callback_when_it_sends_it(monkeypatch):
    """A callback queued long ago (a slow receiver before it) still goes out with a fresh,
    signed timestamp."""
    import httpx

    sent: list[tuple[bytes, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.content, request.headers[SIGNATURE_HEADER]))
        return httpx.Response(200)

    sender = CallbackSender(threading.RLock(), SimConfig())
    stale = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        sender._deliver(http, "http://receiver.test/cb", json.loads(signed_event(sent=stale)))
    ((body, signature),) = sent
    assert signature == sign_callback(body, SECRET)
    event = parse_callback_event(body)
    check_callback_timestamp(event.timestamp, now=datetime.now(UTC), window=timedelta(seconds=5))
