"""Sync API: re-sync (one phone, a selection) and the provider link, in the project's shapes."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry, AuditEvent
from backoffice.actor import Actor
from phones.models import ProviderLink, SyncJob
from phones.services import phone_create
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
