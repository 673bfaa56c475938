"""Sync API: re-sync (one phone, a selection) and the provider link, in the project's shapes."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEntry, AuditEvent
from backoffice.actor import Actor
from phones.models import ProviderLink, SyncJob
from phones.services import phone_create
from provider_sync.checks import NO_E164
from provider_sync.tests.conftest import BR_NUMBER, CTX

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


@pytest.fixture
def phone(boss):
    return phone_create(actor=Actor.of(boss), context=CTX, **BR_NUMBER)


def base(phone):
    return f"/accounts/v1/accounts/{phone.account_id}/phones/{phone.pk}"


def put_link(client, phone, body):
    return client.put(f"{base(phone)}/provider-link", body, format="json")


def test_link_read_and_unlink(api_client_for, boss, phone):
    client = api_client_for(boss)
    assert client.get(f"{base(phone)}/provider-link").json() == {"message": "Phone is not linked to a provider number"}
    response = put_link(client, phone, {"provider": "sinch", "settings": {"sms_service_plan_id": "plan-a"}})
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["provider"], data["number"], data["sync_state"], data["linked"]) == (
        "sinch",
        "+5511912345678",
        "pending",
        True,
    )
    assert data["settings"]["sms_service_plan_id"] == "plan-a" and data["latest_job"]["reason"] == "link"
    assert client.get(f"{base(phone)}/provider-link").json()["latest_job"]["status"] == "pending"
    entry = AuditEntry.objects.filter(phone=phone).order_by("-id").first()
    assert entry.event == AuditEvent.PHONE_LINK_CHANGE and entry.origin == "API"
    gone = client.delete(f"{base(phone)}/provider-link")
    assert gone.status_code == 200 and gone.json()["linked"] is False
    assert SyncJob.objects.order_by("-id").first().reason == "unlink"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "nokia"}, "provider"),
        ({"provider": "sinch", "settings": {"voice_type": "RTC"}}, "settings.voice_target_id"),
        ({"provider": "plivo", "settings": {"subaccount": "nope"}}, "settings.subaccount"),
        ({"provider": "plivo", "remote_number": "123"}, "remote_number"),
        ({"provider": "plivo", "remote_number": 5511}, "remote_number"),
    ],
)
def test_link_errors_name_the_field(api_client_for, boss, phone, body, field):
    response = put_link(api_client_for(boss), phone, body)
    assert response.status_code == 400 and response.json()["field"] == field
    assert not ProviderLink.objects.exists()


def test_resync_answers_202_with_the_job(api_client_for, make_operator, boss, phone):
    put_link(api_client_for(boss), phone, {"provider": "plivo", "settings": {"alias": "a"}})
    response = api_client_for(make_operator("itinivel1-operator")).post(f"{base(phone)}/sync")
    assert response.status_code == 202
    job = SyncJob.objects.order_by("-id").first()
    assert response.json() == {"id": phone.pk, "job_id": job.pk} and job.reason == "resync"


def test_resync_errors(api_client_for, make_operator, boss, phone):
    client = api_client_for(boss)
    assert client.post(f"{base(phone)}/sync").status_code == 409
    assert client.post(f"/accounts/v1/accounts/1/phones/{phone.pk}/sync").status_code == 404
    assert client.post(f"/accounts/v1/accounts/{phone.account_id}/phones/x/sync").json()["field"] == "phoneId"
    for role in ("crm-operator", "treasury-operator"):
        denied = api_client_for(make_operator(role)).post(f"{base(phone)}/sync")
        assert denied.status_code == 403 and "message" in denied.json()
    assert (
        api_client_for(make_operator("itinivel1-operator"))
        .put(f"{base(phone)}/provider-link", {"provider": "plivo"}, format="json")
        .status_code
        == 403
    )
    assert client.generic("POST", f"{base(phone)}/sync").status_code == 409


def test_bulk_resync_of_a_selection(api_client_for, boss, phone):
    other = phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "number": "3333-4444"})
    client = api_client_for(boss)
    put_link(client, phone, {"provider": "plivo", "settings": {"alias": "a"}})
    url = f"/accounts/v1/accounts/{phone.account_id}/phones/sync"
    response = client.post(url, {"ids": [phone.pk, other.pk, 999999]}, format="json")
    assert response.status_code == 202
    job = SyncJob.objects.order_by("-id").first()
    assert response.json() == {"jobs": [{"id": phone.pk, "job_id": job.pk}], "skipped": sorted([other.pk, 999999])}
    assert client.post(url, {"ids": []}, format="json").json()["field"] == "ids"


SYNC_KEYS = {
    "state",
    "text",
    "attempt",
    "max_attempts",
    "last_status",
    "last_error",
    "last_attempt_at",
    "next_attempt_at",
    "since",
}


def test_the_link_says_where_its_sync_stands(api_client_for, boss, phone, settings):
    from datetime import timedelta

    from django.utils import timezone

    client = api_client_for(boss)
    sync = put_link(client, phone, {"provider": "sinch", "settings": {}}).json()["sync"]
    assert set(sync) == SYNC_KEYS
    assert (sync["state"], sync["attempt"], sync["max_attempts"]) == ("pending", 1, settings.SYNC_MAX_ATTEMPTS)
    assert sync["text"].startswith("pending since ") and sync["text"].endswith(", waiting for Sinch")
    assert sync["since"] and sync["next_attempt_at"] and sync["last_attempt_at"] is None
    # A push failed with a 503: the job waits for its next try.
    retry_at = timezone.now() + timedelta(minutes=1)
    SyncJob.objects.update(attempts=1, last_status=503, last_error="Service Unavailable", next_attempt_at=retry_at)
    sync = client.get(f"{base(phone)}/provider-link").json()["sync"]
    assert (sync["state"], sync["attempt"], sync["last_status"], sync["last_error"]) == (
        "retrying",
        2,
        503,
        "Service Unavailable",
    )
    assert sync["text"].startswith(f"retrying, attempt 2 of {settings.SYNC_MAX_ATTEMPTS}, last error 503 at ")
    assert sync["text"].endswith(f"next try at {timezone.localtime(retry_at):%H:%M}")
    # The provider refused it.
    SyncJob.objects.update(status="failed", last_status=400, last_error="Invalid plan", last_error_codes=["BAD"])
    sync = client.get(f"{base(phone)}/provider-link").json()["sync"]
    assert sync["state"] == "failed" and sync["text"].startswith("failed: Invalid plan (status 400, code BAD) at ")


def test_the_sync_object_is_in_the_schema(api_client_for, boss):
    schema = api_client_for(boss).get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    # A nested serializer of its own (a $ref, possibly wrapped by allOf with readOnly).
    assert "#/components/schemas/SyncStatusOutput" in str(components["ProviderLinkOutput"]["properties"]["sync"])
    status = components["SyncStatusOutput"]
    assert set(status["properties"]) == SYNC_KEYS and set(status["required"]) == SYNC_KEYS
    assert "null" in status["properties"]["next_attempt_at"]["type"]  # OpenAPI 3.1: nullable


@pytest.mark.parametrize(
    ("body", "phone_values", "field", "number"),
    [
        ({"provider": "sinch"}, {"number": "9"}, "number", None),
        ({"provider": "plivo", "remote_number": "+1202555014"}, {}, "remote_number", "+1202555014"),
    ],
)
def test_an_impossible_number_is_refused_with_the_contracts_400(
    api_client_for, boss, body, phone_values, field, number
):
    target = phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "account_id": 7004, **phone_values})
    response = put_link(api_client_for(boss), target, body)
    assert response.status_code == 400
    message = (
        f"This number cannot be linked to a provider: libphonenumber finds {number} impossible for its country."
        if number
        else NO_E164
    )
    assert response.json() == {"message": message, "field": field}
    assert not ProviderLink.objects.exists() and not SyncJob.objects.exists()
    assert list(AuditEntry.objects.filter(phone=target).values_list("event", flat=True)) == ["phone_creation"]


@pytest.mark.parametrize("alias", ["a\x00b", "tab\there", "line\u2028sep", "\ud800"])
def test_control_characters_and_lone_surrogates_in_settings_are_a_400(api_client_for, boss, phone, alias):
    client = api_client_for(boss)
    body = json.dumps({"provider": "plivo", "settings": {"alias": alias}}).encode()
    answer = client.put(f"{base(phone)}/provider-link", body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert answer.json() == {"message": "Control characters are not allowed.", "field": "settings.alias"}
    assert not ProviderLink.objects.exists() and not SyncJob.objects.exists()


def test_a_bulk_resync_id_past_int64_is_a_400(api_client_for, boss, phone):
    answer = api_client_for(boss).post(
        f"/accounts/v1/accounts/{phone.account_id}/phones/sync", {"ids": [10**30]}, format="json"
    )
    assert (answer.status_code, answer.json()["field"]) == (400, "ids")


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        ("crm-operator", False),
        ("treasury-operator", False),
        ("geroficios-operator", False),
        ("itinivel1-operator", False),
        ("inspetoria-operator", True),
        ("itibackoffice-operator", True),
    ],
)
def test_the_link_names_the_operator_of_its_job_only_to_roles_that_read_the_audit(
    api_client_for, make_operator, boss, phone, role, sees
):
    assert put_link(api_client_for(boss), phone, {"provider": "sinch", "settings": {}}).status_code == 200
    job = api_client_for(make_operator(role)).get(f"{base(phone)}/provider-link").json()["latest_job"]
    assert job["operator_email"] == ("boss@bank.example" if sees else None)
    # The operator who made the change sees their own name.
    assert api_client_for(boss).get(f"{base(phone)}/provider-link").json()["latest_job"]["operator_email"] == (
        "boss@bank.example"
    )
