"""Hand-made bodies at the Sinch callback, correctly signed: a JSON 400, never an HTML 500, and
no job touched."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from phones.models import SyncJob
from provider_sync.adapters.sinch import sign_callback

pytestmark = pytest.mark.django_db

URL = "/providers/sinch/callback"


def event(**changes):
    body = {
        "eventId": "ev-1",
        # Fresh: a signed timestamp outside the window is refused before the body is read.
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        "projectId": "sim-project",
        "resourceType": "ACTIVE_NUMBER",
        "resourceId": "+5511912345678",
        "eventType": "PROVISIONING_TO_SMS_PLATFORM",
        "status": "SUCCEEDED",
    }
    body.update(changes)
    return json.dumps(body).encode()


def post_signed(client, settings, body):
    settings.SINCH_CALLBACK_SECRET = "sim-callback-secret"
    return client.post(
        URL, body, content_type="application/json", HTTP_X_SINCH_SIGNATURE=sign_callback(body, "sim-callback-secret")
    )


@pytest.mark.parametrize(
    "body",
    [
        event(resourceId="+55119\x0012345678"),  # NUL: PostgreSQL refused the query (a 500)
        event(resourceId="\x00"),
        event(resourceId={"a": 1}),
        event(resourceId="+5511912345678\n"),
        event(resourceId="+" + "9" * 5000),
        b'{"eventId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # RecursionError (a 500)
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": "\xff"}',
    ],
    ids=["nul-inside", "nul", "object", "newline", "5000-digits", "deep-member", "deep", "not-utf8"],
)
def test_a_signed_callback_with_a_bad_body_is_a_json_400(client, settings, body):
    answer = post_signed(client, settings, body)
    assert answer.status_code == 400 and answer["Content-Type"] == "application/json"
    assert set(answer.json()) == {"message"}
    assert not SyncJob.objects.exists()


def test_a_good_signed_callback_for_an_unknown_number_is_still_acknowledged(client, settings):
    answer = post_signed(client, settings, event())
    assert (answer.status_code, answer.json()) == (200, {"received": "ev-1", "jobs": []})


def test_the_callback_answers_other_methods_in_json(client):
    answer = client.get(URL)
    assert (answer.status_code, answer.json()) == (405, {"message": "Method Not Allowed"})
