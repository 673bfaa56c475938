"""Access and operator events in the audit trail: who signed in (or failed to, or was locked out),
who created an operator, granted or revoked its roles, deactivated it, set its password, edited
the role matrix, and who exported phones: each an entry of the access chain, secrets left out."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connections, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from audit.events import ACCESS_EVENTS, SCHEMA_DIR, SCHEMA_FILES, event_schema
from audit.integrity import audit_verify
from audit.models import AuditEntry, AuditEvent
from audit.tests.tamper import tamper
from backoffice.services import operator_change
from backoffice.tests.factories import PASSWORD
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
AUDIT_API = "/audit/v1/entries"
NEW_PASSWORD = "x-long-new-passphrase-7"


def entries(event: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(event=event).order_by("id"))


def only(event: str) -> AuditEntry:
    found = entries(event)
    assert len(found) == 1, [(e.event, e.payload) for e in found]
    return found[0]


def assert_no_secret(entry: AuditEntry, *secrets: str) -> None:
    text = json.dumps([entry.payload, entry.changes])
    for secret in (PASSWORD, NEW_PASSWORD, *secrets):
        assert secret not in text
    assert "password" not in json.dumps(entry.payload["object"]).lower().replace("password_changed", "")


@pytest.fixture(autouse=True)
def _password_only_sign_in(settings):
    # These tests sign in with a password alone: the second step (and its own events) is
    # backoffice/tests/test_mfa.py's and the MFA tests below.
    settings.MFA_REQUIRED_PERMISSIONS = []


@pytest.fixture
def jane(make_operator):
    return make_operator("crm-operator", email="jane@bank.example")


@pytest.fixture
def master(make_operator):
    return make_operator("itibackoffice-master", email="master@bank.example")


def test_admin_sign_in_failures_lockout_unlock_and_sign_out(client, jane, settings):
    settings.AXES_FAILURE_LIMIT = 2
    assert client.post(LOGIN, {"username": "JANE@bank.example", "password": PASSWORD}).status_code == 302
    signed_in = only(AuditEvent.OPERATOR_SIGNED_IN)
    assert (signed_in.operator_id, signed_in.operator_email, signed_in.operator_roles) == (
        jane.pk,
        "jane@bank.example",
        ["crm-operator"],
    )
    assert signed_in.origin == "CRM" and signed_in.ip_address == "127.0.0.1" and signed_in.phone_id is None
    assert signed_in.payload["method"] == "POST" and signed_in.payload["uri"] == LOGIN
    assert signed_in.payload["object"] == {
        "operator_id": jane.pk,
        "email": "jane@bank.example",
        "roles": ["crm-operator"],
    }
    assert_no_secret(signed_in)

    assert client.post(reverse("admin:logout")).status_code in (200, 302)
    signed_out = only(AuditEvent.OPERATOR_SIGNED_OUT)
    assert signed_out.operator_id == jane.pk and signed_out.origin == "CRM"

    typed = "jane@bank.example" + "x" * 100  # kept truncated: a password typed here is not kept whole
    client.post(LOGIN, {"username": typed, "password": "wrong-secret-1"})
    for _ in range(2):  # the lockout counts jane's email from this address: 2 failures
        client.post(LOGIN, {"username": "jane@bank.example", "password": "wrong-secret-2"})
    failed = entries(AuditEvent.OPERATOR_SIGN_IN_FAILED)
    assert [e.operator_email for e in failed] == [typed[:64], "jane@bank.example", "jane@bank.example"]
    assert failed[1].operator_id is None and failed[1].origin == "CRM"
    assert failed[1].payload["object"] == {"email": "jane@bank.example", "ip_address": "127.0.0.1"}
    for entry in failed:
        assert_no_secret(entry, "wrong-secret-1", "wrong-secret-2")
    locked = only(AuditEvent.OPERATOR_LOCKED_OUT)
    assert locked.payload["object"] == {"email": "jane@bank.example", "ip_address": "127.0.0.1", "failures": 2}

    call_command("axes_reset_username", "jane@bank.example", stdout=io.StringIO())
    unlocked = only(AuditEvent.OPERATOR_UNLOCKED)
    assert unlocked.origin == "COMMAND" and unlocked.operator_email.startswith("command:")
    assert unlocked.payload["object"]["email"] == "jane@bank.example"
    assert list(audit_verify()) == []


def test_api_sign_in_failure_and_sign_out_revoking_the_refresh_token(jane):
    client = APIClient()
    client.post("/auth/token", {"email": "jane@bank.example", "password": "wrong-secret"}, format="json")
    failed = only(AuditEvent.OPERATOR_SIGN_IN_FAILED)
    assert failed.origin == "API" and failed.payload["uri"] == "/auth/token"
    assert_no_secret(failed, "wrong-secret")

    pair = client.post("/auth/token", {"email": "jane@bank.example", "password": PASSWORD}, format="json").json()
    signed_in = only(AuditEvent.OPERATOR_SIGNED_IN)
    assert signed_in.origin == "API" and signed_in.operator_id == jane.pk and signed_in.request_id
    assert_no_secret(signed_in, pair["access"], pair["refresh"])

    assert client.post("/auth/logout", {"refresh": pair["refresh"]}, format="json").status_code == 204
    signed_out = only(AuditEvent.OPERATOR_SIGNED_OUT)
    assert signed_out.operator_id == jane.pk and signed_out.origin == "API"
    assert signed_out.payload["object"]["refresh_token_revoked"] is True
    assert_no_secret(signed_out, pair["access"], pair["refresh"])
    # A refused sign-out (the token already used) signs nobody out: no entry.
    assert client.post("/auth/logout", {"refresh": pair["refresh"]}, format="json").status_code == 401
    assert len(entries(AuditEvent.OPERATOR_SIGNED_OUT)) == 1


def test_operator_created_roles_changed_deactivated_and_password_set_in_the_admin(client, master):
    client.force_login(master)
    created = client.post(
        reverse("admin:backoffice_user_add"),
        {
            "email": "new.op@bank.example",
            "full_name": "New Op",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "roles": ["crm-operator"],
            "usable_password": "true",
        },
    )
    assert created.status_code == 302
    entry = only(AuditEvent.OPERATOR_CREATED)
    new = entry.payload["object"]
    assert (entry.operator_id, entry.operator_email, entry.operator_roles, entry.origin) == (
        master.pk,
        "master@bank.example",
        ["itibackoffice-master"],
        "CRM",
    )
    assert new["email"] == "new.op@bank.example" and new["roles"] == ["crm-operator"] and new["is_active"] is True
    assert_no_secret(entry)

    operator_id = new["operator_id"]
    changed = client.post(
        reverse("admin:backoffice_user_change", args=[operator_id]),
        {"email": "new.op@bank.example", "full_name": "New Op", "roles": ["treasury-operator"]},
    )
    assert changed.status_code == 302
    roles = only(AuditEvent.OPERATOR_ROLES_CHANGED)
    assert roles.operator_id == master.pk
    assert roles.payload["object"]["roles_granted"] == ["treasury-operator"]
    assert roles.payload["object"]["roles_revoked"] == ["crm-operator"]
    assert roles.changes == {"roles": [["crm-operator"], ["treasury-operator"]]}
    deactivated = only(AuditEvent.OPERATOR_DEACTIVATED)  # is_active unticked in the same post
    assert (
        deactivated.changes == {"is_active": [True, False]}
        and deactivated.payload["object"]["operator_id"] == operator_id
    )
    assert entries(AuditEvent.OPERATOR_CHANGED) == []  # nothing else changed

    password_url = reverse("admin:backoffice_user_change", args=[operator_id]).replace("/change/", "/password/")
    posted = {"password1": NEW_PASSWORD + "b", "password2": NEW_PASSWORD + "b", "usable_password": "true"}
    assert client.post(password_url, posted).status_code == 302
    password = only(AuditEvent.OPERATOR_PASSWORD_CHANGED)
    assert password.operator_id == master.pk and password.payload["object"]["operator_id"] == operator_id
    assert_no_secret(password, NEW_PASSWORD + "b")
    assert list(audit_verify()) == []


def test_create_operator_command_is_recorded_as_the_command_line(jane):
    call_command("create_operator", "cli@bank.example", "--role", "crm-operator", stdout=io.StringIO())
    created = only(AuditEvent.OPERATOR_CREATED)
    assert created.origin == "COMMAND" and created.operator_id is None
    assert created.operator_email.startswith("command:") and created.payload["uri"] == ""
    call_command(
        "create_operator", "cli@bank.example", "--role", "treasury-operator", "--password", NEW_PASSWORD,
        stdout=io.StringIO(),
    )  # fmt: skip
    assert only(AuditEvent.OPERATOR_ROLES_CHANGED).payload["object"]["roles_revoked"] == ["crm-operator"]
    assert_no_secret(only(AuditEvent.OPERATOR_PASSWORD_CHANGED))


def test_other_operator_changes_and_a_reactivation_are_operator_changed(make_operator, jane):
    root = make_operator(is_superuser=True, email="root@bank.example")
    operator_change(actor=root, operator=jane, roles=["crm-operator"], full_name="Jane Q", is_active=False)
    operator_change(actor=root, operator=jane, roles=["crm-operator"], full_name="Jane Q", is_active=True)
    renamed, reactivated = entries(AuditEvent.OPERATOR_CHANGED)
    assert renamed.changes == {"full_name": [jane.full_name, "Jane Q"]} and renamed.operator_id == root.pk
    assert reactivated.changes == {"is_active": [False, True]}
    assert reactivated.payload["object"] == {
        "operator_id": jane.pk,
        "email": "jane@bank.example",
        "roles": ["crm-operator"],
        "is_active": True,
    }
    assert len(entries(AuditEvent.OPERATOR_DEACTIVATED)) == 1
    assert entries(AuditEvent.OPERATOR_ROLES_CHANGED) == []  # the roles stayed


def test_a_rolled_back_change_leaves_no_entry(master, jane):
    with pytest.raises(RuntimeError), transaction.atomic():
        operator_change(actor=master, operator=jane, roles=[], full_name="x", is_active=False)
        assert len(entries(AuditEvent.OPERATOR_ROLES_CHANGED)) == 1
        raise RuntimeError("the change fails after its entry was written")
    assert entries(AuditEvent.OPERATOR_ROLES_CHANGED) == [] and entries(AuditEvent.OPERATOR_DEACTIVATED) == []
    assert list(audit_verify()) == []


def test_role_matrix_edit_names_the_permissions_added_and_removed(client, make_operator):
    root = make_operator(is_superuser=True, email="root@bank.example")
    client.force_login(root)
    role = Group.objects.get(name="treasury-operator")
    audit = Permission.objects.get(content_type__app_label="audit", codename="view_auditentry")
    kept = list(role.permissions.values_list("pk", flat=True))
    response = client.post(
        reverse("admin:auth_group_change", args=[role.pk]), {"name": role.name, "permissions": [*kept, audit.pk]}
    )
    assert response.status_code == 302
    entry = only(AuditEvent.ROLE_PERMISSIONS_CHANGED)
    assert entry.operator_id == root.pk and entry.origin == "CRM"
    assert entry.payload["object"] == {
        "role": "treasury-operator",
        "permissions_added": ["audit.view_auditentry"],
        "permissions_removed": [],
    }


def test_csv_exports_name_the_operator_the_filter_and_the_rows(client, jane):
    PhoneFactory(actor=jane, account_id=77)
    second = PhoneFactory(actor=jane, account_id=78)
    client.force_login(jane)
    response = client.get(reverse("admin:phones_phone_export") + "?account=77")
    b"".join(response.streaming_content)
    client.post(
        reverse("admin:phones_phone_changelist"), {"action": "export_selected_csv", "_selected_action": [second.pk]}
    )
    listed, selected = entries(AuditEvent.PHONES_EXPORTED)
    assert (listed.operator_id, listed.operator_email, listed.operator_roles) == (
        jane.pk,
        "jane@bank.example",
        ["crm-operator"],
    )
    assert listed.payload["object"] == {"selection": "filtered list", "filter": {"account": ["77"]}, "row_count": 1}
    assert selected.payload["object"]["selection"] == "selected rows"
    assert selected.payload["object"]["row_count"] == 1


def test_audit_api_lists_filters_and_shows_access_events_by_visibility(jane, make_operator, api_client_for):
    other = make_operator("crm-operator", email="other@bank.example")
    for email in ("jane@bank.example", "other@bank.example"):
        APIClient().post("/auth/token", {"email": email, "password": PASSWORD}, format="json")
    APIClient().post("/auth/token", {"email": "jane@bank.example", "password": "wrong"}, format="json")
    auditor = api_client_for(make_operator("inspetoria-operator"))
    listed = auditor.get(f"{AUDIT_API}?event=operator_signed_in").json()["results"]
    assert {e["operator_email"] for e in listed} == {"jane@bank.example", "other@bank.example"}
    assert all(e["phone_id"] is None and e["account_id"] is None for e in listed)
    assert len(auditor.get(f"{AUDIT_API}?event=operator_sign_in_failed").json()["results"]) == 1
    assert len(auditor.get(f"{AUDIT_API}?email=other@bank.example&origin=API").json()["results"]) == 1
    # A role without VIEW_AUDIT (crm-operator: its own entries) sees its own sign-in, not others'.
    own = api_client_for(jane).get(AUDIT_API).json()["results"]
    assert [(e["event"], e["operator_email"]) for e in own] == [("operator_signed_in", "jane@bank.example")]
    theirs = AuditEntry.objects.get(event=AuditEvent.OPERATOR_SIGNED_IN, operator_id=other.pk)
    assert api_client_for(jane).get(f"{AUDIT_API}/{theirs.pk}").status_code == 404
    # Our OpenAPI document offers the new names in the filter's enum.
    document = auditor.get("/api/schema/", {"format": "json"}).json()
    (event,) = [p for p in document["paths"][AUDIT_API]["get"]["parameters"] if p["name"] == "event"]
    assert set(event["schema"]["enum"]) >= {str(name) for name in ACCESS_EVENTS}


def test_admin_audit_log_lists_and_filters_access_events(client, jane, make_operator):
    APIClient().post("/auth/token", {"email": "jane@bank.example", "password": PASSWORD}, format="json")
    make_operator("inspetoria-operator", email="auditor@bank.example")
    client.post(LOGIN, {"username": "auditor@bank.example", "password": PASSWORD})  # its own entry
    url = reverse("admin:audit_auditentry_changelist")
    shown = list(client.get(url + "?event=operator_signed_in").context["cl"].result_list)
    assert {e.operator_email for e in shown} == {"jane@bank.example", "auditor@bank.example"}
    page = client.get(reverse("admin:audit_auditentry_change", args=[shown[0].pk]))
    assert page.status_code == 200 and "Operator signed in" in page.content.decode()
    # The dashboard counts changes of phones: the sign-ins are not changes.
    assert client.get(reverse("admin:index")).context["changes_24h"] == 0
    client.force_login(jane)  # a session made by code, not a sign-in at the admin: not recorded
    mine = list(client.get(url).context["cl"].result_list)
    assert [(e.event, e.operator_email) for e in mine] == [("operator_signed_in", "jane@bank.example")]


def test_audit_verify_finds_an_altered_and_a_removed_access_entry(jane, master):
    operator_change(actor=master, operator=jane, roles=["treasury-operator"], full_name="Jane", is_active=True)
    operator_change(actor=master, operator=jane, roles=["crm-operator"], full_name="Jane", is_active=True)
    assert list(audit_verify()) == []
    first, newest = entries(AuditEvent.OPERATOR_ROLES_CHANGED)
    tamper("UPDATE audit_auditentry SET operator_email = 'someone@else' WHERE id = %s", [first.pk])
    assert [(p.entry_id, p.problem) for p in audit_verify()] == [
        (first.pk, "hash mismatch: the entry was altered or forged")
    ]
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [newest.pk])
    assert [p.problem for p in audit_verify()][-1] == (
        "the access chain's head is not its latest entry: entries were removed"
    )


def test_access_payloads_have_a_schema_of_their_own_and_the_contracts_are_unchanged(jane):
    assert {SCHEMA_FILES[event] for event in ACCESS_EVENTS} == {"access-event.schema.json"}
    schema = event_schema(AuditEvent.OPERATOR_SIGNED_IN)
    payload = {"method": "", "uri": "", "email": "", "roles": [], "origin": "API", "object": {"email": "a"}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(payload)) == []
    # The object has no place for a secret.
    leaky = {**payload, "object": {"email": "a", "password": "hunter2"}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(leaky))
    # The contract's two events keep the contract's schemas, byte for byte.
    contracts = Path(__file__).resolve().parents[3] / "shared" / "contracts"
    for event in (AuditEvent.PHONE_CREATION, AuditEvent.PHONE_CHANGE):
        ours = (SCHEMA_DIR / SCHEMA_FILES[event]).read_text()
        if contracts.is_dir():
            assert ours == (contracts / SCHEMA_FILES[event]).read_text()
    phone = PhoneFactory(actor=jane, account_id=5)
    creation = AuditEntry.objects.get(phone=phone)
    assert set(creation.payload) == {"method", "uri", "email", "roles", "origin", "object"}
    assert (creation.payload["method"], creation.payload["uri"]) == ("POST", "/v1/accounts/:accountId/phones")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_sign_ins_keep_the_access_chain_linear(make_operator):
    """Eight sign-ins at once, the chain's head not yet created: each waits on the head row's lock
    (the first ones race to create it), so the chain has no fork and its id order is its order."""
    for index in range(8):
        make_operator("crm-operator", email=f"op{index}@bank.example")
    barrier = threading.Barrier(8)

    def sign_in(index: int) -> int:
        try:
            barrier.wait(timeout=10)
            body = {"email": f"op{index}@bank.example", "password": PASSWORD}
            return APIClient().post("/auth/token", body, format="json").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(sign_in, range(8))) == [200] * 8
    chain = entries(AuditEvent.OPERATOR_SIGNED_IN)
    assert len(chain) == 8 and [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]
    assert list(audit_verify()) == []


def test_mfa_enrolment_and_reset_are_recorded_without_any_secret(jane, make_operator):
    from backoffice import mfa
    from backoffice.tests.otp import enrolled

    device, codes = enrolled(jane)
    entry = only(AuditEvent.OPERATOR_MFA_ENROLLED)
    assert (entry.operator_email, entry.payload["object"]["email"]) == ("jane@bank.example", "jane@bank.example")
    assert_no_secret(entry, device.key, *codes)
    manager = make_operator("itibackoffice-master", email="manager@bank.example")
    mfa.reset_mfa(manager, jane)
    reset = only(AuditEvent.OPERATOR_MFA_RESET)
    assert (reset.operator_email, reset.payload["object"]["email"]) == ("manager@bank.example", "jane@bank.example")
    assert list(audit_verify()) == []


def test_service_account_keys_issued_and_revoked_are_recorded_by_prefix_never_the_key(make_operator):
    from backoffice.service_accounts import api_key_issue, api_key_revoke, service_account_create

    make_operator()
    tool = service_account_create(email="etl@tools.bank.example", roles=["crm-operator"])
    manager = make_operator("itibackoffice-master", email="manager@bank.example")
    row, key = api_key_issue(operator=tool, name="etl production", actor=manager)
    issued = only(AuditEvent.API_KEY_ISSUED)
    assert issued.operator_email == "manager@bank.example"
    assert (issued.payload["object"]["key_prefix"], issued.payload["object"]["email"]) == (row.prefix, tool.email)
    assert_no_secret(issued, key, key.split("_", 2)[2], row.digest)
    api_key_revoke(prefix=row.prefix, revoked_by=manager.email, actor=manager)
    api_key_revoke(prefix=row.prefix, revoked_by=manager.email, actor=manager)  # twice: one entry
    revoked = only(AuditEvent.API_KEY_REVOKED)
    assert revoked.payload["object"]["key_prefix"] == row.prefix
    assert list(audit_verify()) == []
