from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from backoffice.models import User
from backoffice.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:backoffice_user_add")


def change_url(user):
    return reverse("admin:backoffice_user_change", args=[user.pk])


@pytest.fixture
def master(make_operator):
    return make_operator("itibackoffice-master", "crm-operator", email="master@bank.example")


@pytest.fixture
def master_client(client, master):
    client.force_login(master)
    return client


def new_operator(**overrides):
    return {
        "email": "New.Op@Bank.example",
        "full_name": "New Op",
        "password1": "a-long-unusual-passphrase-42",
        "password2": "a-long-unusual-passphrase-42",
        "roles": ["crm-operator"],
        **overrides,
    }


def roles_of(user):
    return set(user.groups.values_list("name", flat=True))


def test_master_creates_an_operator_with_a_role_it_holds(master_client):
    response = master_client.post(ADD_URL, new_operator())
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.op@bank.example")
    assert roles_of(user) == {"crm-operator"} and user.check_password("a-long-unusual-passphrase-42")
    assert not user.is_superuser


def test_roles_offered_are_only_those_the_master_holds(master_client):
    form = master_client.get(ADD_URL).context["adminform"].form
    assert set(form.fields["roles"].queryset.values_list("name", flat=True)) == {
        "itibackoffice-master",
        "crm-operator",
    }


def test_cannot_grant_a_role_it_does_not_hold(master_client):
    response = master_client.post(ADD_URL, new_operator(roles=["treasury-operator"]))
    assert response.status_code == 200
    assert "roles" in response.context["adminform"].form.errors
    assert not User.objects.filter(email="new.op@bank.example").exists()


def test_editing_keeps_roles_the_master_cannot_manage(master_client, make_operator):
    target = make_operator("treasury-operator", "crm-operator", email="t@bank.example")
    response = master_client.post(
        change_url(target), {"full_name": "T", "is_active": "on", "roles": ["itibackoffice-master"]}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    # crm-operator (the master's) was removed, treasury-operator (not the master's) stays.
    assert roles_of(target) == {"treasury-operator", "itibackoffice-master"}


def test_no_escalation_to_superuser(master_client, make_operator):
    target = make_operator("crm-operator", email="t@bank.example")
    form = master_client.get(change_url(target)).context["adminform"].form
    assert "is_superuser" not in form.fields and "user_permissions" not in form.fields
    master_client.post(change_url(target), {"full_name": "T", "is_active": "on", "is_superuser": "on"})
    target.refresh_from_db()
    assert not target.is_superuser
    root = make_operator(is_superuser=True, email="root@bank.example")
    assert master_client.get(change_url(root)).context["has_change_permission"] is False
    assert master_client.post(change_url(root), {"full_name": "pwned", "is_active": ""}).status_code == 403
    password_url = change_url(root).replace("/change/", "/password/")
    assert master_client.post(password_url, {"password1": "x" * 20, "password2": "x" * 20}).status_code == 403
    root.refresh_from_db()
    assert root.is_active and root.check_password(PASSWORD)


def test_operators_without_the_right_cannot_manage(client, make_operator):
    client.force_login(make_operator("backoffice-operator", email="bo@bank.example"))
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, new_operator()).status_code == 403
    assert not User.objects.filter(email="new.op@bank.example").exists()


def test_superuser_can_grant_any_role(client, make_operator):
    client.force_login(make_operator(is_superuser=True, email="root@bank.example"))
    response = client.post(ADD_URL, new_operator(roles=["treasury-operator", "crm-operator"]))
    assert response.status_code == 302
    assert roles_of(User.objects.get(email="new.op@bank.example")) == {"treasury-operator", "crm-operator"}
    assert Group.objects.count() == 9


def test_login_by_email_and_lockout_with_a_clear_message(client, make_operator, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_operator("crm-operator", email="jane@bank.example")
    login = reverse("admin:login")
    page = client.get(login).content.decode()
    assert "Phone backoffice" in page and "Email" in page
    ok = client.post(login, {"username": "jane@bank.example", "password": PASSWORD})
    assert ok.status_code == 302
    client.logout()
    for _ in range(2):
        wrong = client.post(login, {"username": "jane@bank.example", "password": "nope"})
        assert "Please enter the correct email" in wrong.content.decode()
    locked = client.post(login, {"username": "jane@bank.example", "password": "nope"})
    assert locked.status_code == 429
    assert "Sign-in temporarily locked" in locked.content.decode()
    # Even the right password is refused while locked.
    still = client.post(login, {"username": "jane@bank.example", "password": PASSWORD})
    assert still.status_code == 429
