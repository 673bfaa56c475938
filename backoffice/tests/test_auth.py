"""API authentication: one statement per request for the operator, the role matrix kept in memory
while ``AccessVersion`` says it is unchanged, and every role change seen by the next request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from backoffice.models import AccessVersion
from phones.tests.factories import PhoneFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
LIST = "/accounts/v1/accounts/7/phones"


@pytest.fixture
def crm(make_operator):
    return make_operator("crm-operator")


@pytest.fixture
def client(api_client_for, crm):
    return api_client_for(crm)


def view_phone() -> Permission:
    return Permission.objects.get(content_type__app_label="phones", codename="view_phone")


def version() -> int:
    return AccessVersion.objects.get(pk=1).version


def test_each_change_to_roles_permissions_or_content_types_changes_the_version():
    seen = [version()]

    def changed() -> None:
        seen.append(version())
        assert seen[-1] != seen[-2]

    role = Group.objects.create(name="auditor")
    changed()
    role.permissions.add(view_phone())
    changed()
    Group.objects.filter(pk=role.pk).update(name="auditors")
    changed()
    role.permissions.clear()
    changed()
    kind = ContentType.objects.create(app_label="extra", model="thing")
    changed()
    Permission.objects.create(content_type=kind, codename="do_thing", name="Can do thing")
    changed()
    role.delete()
    changed()


def test_the_matrix_is_not_read_again_while_unchanged(client, crm):
    phone = PhoneFactory(account_id=7, actor=crm)
    assert client.get(f"{LIST}/{phone.pk}").status_code == 200  # loads the matrix
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{LIST}/{phone.pk}").status_code == 200
    sql = [query["sql"] for query in queries]
    assert len(sql) == 2, sql  # the operator (with its role ids and the version), the phone
    assert "auth_permission" not in sql[0] and "backoffice_accessversion" in sql[0]

    Group.objects.get(name="crm-operator").permissions.remove(view_phone())
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{LIST}/{phone.pk}").status_code == 403
    assert "auth_permission" in queries[1]["sql"]  # a new version: the matrix is read again


def test_role_changes_apply_to_the_next_request(client, crm):
    assert client.get(LIST).status_code == 200
    crm_role = Group.objects.get(name="crm-operator")
    crm_role.permissions.remove(view_phone())
    assert client.get(LIST).status_code == 403
    crm.groups.add(Group.objects.get(name="treasury-operator"))  # membership is read on every request
    assert client.get(LIST).status_code == 200
    crm_role.permissions.add(view_phone())
    assert client.get(LIST).status_code == 200
    # Taking a role away or deactivating ends the operator's tokens (test_tokens.py).
    crm.is_active = False
    crm.save(update_fields=["is_active"])
    assert client.get(LIST).status_code == 401


def test_a_rolled_back_change_never_leaves_a_stale_matrix(client):
    """A request inside a transaction that is then rolled back caches the matrix it saw; a
    counter would give the next committed change the same number and that matrix would stay.
    The version comes from a sequence, which never hands out a number twice."""
    crm_role = Group.objects.get(name="crm-operator")
    with pytest.raises(RuntimeError), transaction.atomic():
        crm_role.permissions.remove(view_phone())
        assert client.get(LIST).status_code == 403
        raise RuntimeError("roll back")
    assert client.get(LIST).status_code == 200
    Group.objects.get(name="treasury-operator").permissions.remove(view_phone())
    assert client.get(LIST).status_code == 200  # crm-operator still has the right


@pytest.mark.django_db(transaction=True)
def test_a_flushed_database_gets_its_version_back(make_operator, api_client_for):
    # Transactional tests TRUNCATE every table; the triggers' upsert restores the row.
    assert AccessVersion.objects.filter(pk=1).exists()
    client = api_client_for(make_operator("crm-operator"))
    assert client.get(LIST).status_code == 200


def test_a_token_checked_once_still_expires(client, crm, monkeypatch):
    from datetime import timedelta

    from backoffice import auth

    assert client.get(LIST).status_code == 200  # verified and remembered
    later = auth.aware_utcnow() + timedelta(days=2)
    monkeypatch.setattr(auth, "aware_utcnow", lambda: later)
    monkeypatch.setattr("rest_framework_simplejwt.tokens.aware_utcnow", lambda: later)
    response = client.get(LIST)
    assert response.status_code == 401 and set(response.json()) == {"message"}


def test_a_tampered_token_is_refused_even_after_the_genuine_one_was_seen(client):
    assert client.get(LIST).status_code == 200
    header = client._credentials["HTTP_AUTHORIZATION"]
    head, payload, signature = header.split(" ")[1].split(".")
    forged = f"Bearer {head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    client.credentials(HTTP_AUTHORIZATION=forged)
    assert client.get(LIST).status_code == 401


def test_an_email_typed_with_capitals_signs_in_and_counts_no_failure(make_operator, settings):
    """``Jane.Doe@Bank.example`` failed to sign in (admin and /auth/token) and counted towards
    the lockout."""
    from axes.models import AccessAttempt
    from django.test import Client
    from rest_framework.test import APIClient

    from backoffice.tests.factories import PASSWORD

    # A role that signs in with the password alone (MFA's sign-ins: test_mfa.py).
    make_operator("treasury-operator", email="jane.doe@bank.example")
    token = APIClient().post("/auth/token", {"email": " Jane.Doe@Bank.example", "password": PASSWORD}, format="json")
    assert token.status_code == 200 and "access" in token.json()
    browser = Client()
    answer = browser.post("/admin/login/", {"username": "JANE.DOE@bank.example", "password": PASSWORD})
    assert answer.status_code == 302 and browser.session.get("_auth_user_id")
    assert not AccessAttempt.objects.filter(failures_since_start__gt=0).exists()
