"""Service accounts: internal tools call the API with keys, not a person's password; their
changes are audited in their own name; keys are stored hashed, expire, and are revoked one by one."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from backoffice.models import ApiKey
from backoffice.service_accounts import ServiceAccountRefused, api_key_issue, api_key_revoke, service_account_create

pytestmark = pytest.mark.django_db

PHONES = "/accounts/v1/accounts/77/phones"


@pytest.fixture
def tool(make_operator):
    make_operator()  # seeds the role matrix
    return service_account_create(email="crm-sync@tools.bank.example", roles=["backoffice-operator"])


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_service_account_calls_the_api_with_its_key_and_is_audited_in_its_own_name(tool):
    _, key = api_key_issue(operator=tool, name="crm-sync production")
    client = client_with(key)
    created = client.post(PHONES, {"number": "91234-5678", "type": "MOBILE", "area_code": 11}, format="json")
    assert created.status_code == 200, created.json()
    assert client.get(PHONES).status_code == 200
    entry = AuditEntry.objects.get(phone_id=created.json()["id"])
    assert (entry.operator_email, entry.operator_roles) == ("crm-sync@tools.bank.example", ["backoffice-operator"])
    assert (entry.payload["email"], entry.payload["roles"]) == ("crm-sync@tools.bank.example", ["backoffice-operator"])


def test_only_the_prefix_and_a_hash_of_the_key_are_stored(tool):
    row, key = api_key_issue(operator=tool, name="k")
    secret = key.split("_", 2)[2]
    stored = ApiKey.objects.filter(pk=row.pk).values_list("prefix", "digest").get()
    assert secret not in "".join(stored) and row.prefix in key and len(secret) >= 40


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key {key}x",  # wrong secret
        "Api-Key bo_000000000000_{secret}",  # unknown prefix
        "Api-Key",  # no key
        "Api-Key a b",
        "Api-Key {key}\u00e9",
        "Api-Key xx_{prefix}_{secret}",
    ],
)
def test_a_wrong_key_is_a_401_in_the_contracts_shape(tool, header):
    row, key = api_key_issue(operator=tool, name="k")
    secret = key.split("_", 2)[2]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(key=key, prefix=row.prefix, secret=secret))
    answer = client.get(PHONES)
    assert answer.status_code == 401 and set(answer.json()) == {"message"}


def test_revoked_expired_and_deactivated_keys_stop_at_once(tool):
    row, key = api_key_issue(operator=tool, name="k")
    other, other_key = api_key_issue(operator=tool, name="expiring", expires_at=timezone.now() + timedelta(hours=1))
    assert client_with(key).get(PHONES).status_code == 200
    api_key_revoke(prefix=row.prefix, revoked_by="security@bank.example")
    assert client_with(key).get(PHONES).status_code == 401
    assert client_with(other_key).get(PHONES).status_code == 200
    ApiKey.objects.filter(pk=other.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_with(other_key).get(PHONES).status_code == 401
    _, fresh = api_key_issue(operator=tool, name="fresh")
    tool.is_active = False
    tool.save()
    assert client_with(fresh).get(PHONES).status_code == 401


def test_a_service_account_cannot_sign_in_as_a_person(tool, client):
    for password in ("", "anything"):
        token = APIClient().post("/auth/token", {"email": tool.email, "password": password}, format="json")
        assert token.status_code in (400, 401)
    assert not tool.has_usable_password() and not tool.is_staff
    signed_in = client.post("/admin/login/", {"username": tool.email, "password": "anything"})
    assert signed_in.status_code == 200 and "_auth_user_id" not in client.session


def test_keys_only_for_service_accounts_and_never_for_a_person(make_operator):
    person = make_operator("crm-operator", email="jane@bank.example")
    with pytest.raises(ServiceAccountRefused):
        api_key_issue(operator=person, name="k")
    with pytest.raises(ServiceAccountRefused):
        service_account_create(email="jane@bank.example", roles=["crm-operator"])
    assert not ApiKey.objects.exists()


def test_the_command_creates_issues_lists_and_revokes(make_operator):
    make_operator()
    out = StringIO()
    call_command("service_account", "create", "etl@tools.bank.example", "--role", "crm-operator", stdout=out)
    call_command(
        "service_account", "issue-key", "etl@tools.bank.example", "--key-name", "etl", "--days", "30", stdout=out
    )
    key = out.getvalue().split("Authorization: Api-Key ")[1].split()[0]
    assert client_with(key).get(PHONES).status_code == 200
    prefix = key.split("_")[1]
    call_command("service_account", "list", stdout=out)
    assert f"{prefix}  etl@tools.bank.example  etl  active" in out.getvalue()
    call_command("service_account", "revoke-key", prefix, stdout=out)
    assert client_with(key).get(PHONES).status_code == 401
    assert ApiKey.objects.get(prefix=prefix).expires_at is not None


def test_operator_managers_list_and_revoke_keys_in_the_admin_and_never_see_the_digest(tool, make_operator, client):
    row, key = api_key_issue(operator=tool, name="crm-sync production")
    client.force_login(make_operator("itibackoffice-master", email="manager@bank.example"))
    listing = client.get("/admin/backoffice/apikey/")
    assert listing.status_code == 200 and row.prefix in listing.content.decode()
    assert row.digest not in listing.content.decode()
    answer = client.post("/admin/backoffice/apikey/", {"action": "revoke_keys", "_selected_action": [row.pk]})
    assert answer.status_code == 302
    row.refresh_from_db()
    assert row.revoked_by == "manager@bank.example" and client_with(key).get(PHONES).status_code == 401
    client.force_login(make_operator("crm-operator", email="crm@bank.example"))
    assert client.get("/admin/backoffice/apikey/").status_code == 403


def test_a_key_records_when_it_was_last_used_at_most_once_a_minute(tool, django_assert_num_queries):
    row, key = api_key_issue(operator=tool, name="k")
    assert row.last_used_at is None
    client = client_with(key)
    assert client.get(PHONES).status_code == 200
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None
    assert client.get(PHONES).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at == first  # within the minute: no write
    ApiKey.objects.filter(pk=row.pk).update(last_used_at=first - timedelta(minutes=2))
    assert client.get(PHONES).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at > first - timedelta(minutes=2)


def test_create_operator_applies_the_password_validators(make_operator):
    from django.core.management.base import CommandError

    from backoffice.models import User

    make_operator()
    for weak in ("short", "12345678901", "password123", "jane.doe@bank.example"):
        with pytest.raises(CommandError, match="Password refused"):
            call_command("create_operator", "jane.doe@bank.example", "--role", "crm-operator", "--password", weak)
    assert not User.objects.filter(email="jane.doe@bank.example").exists()
    call_command(
        "create_operator",
        "jane.doe@bank.example",
        "--role",
        "crm-operator",
        "--password",
        "correct-horse-battery-staple",
        stdout=StringIO(),
    )
    assert User.objects.get(email="jane.doe@bank.example").check_password("correct-horse-battery-staple")
