"""A password someone else chose (a manager's reset, an operator created with one) is changed by
its holder before anything else: the admin shows only its password page, /auth/token gives no
token; the holder's own change clears it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from backoffice.api_auth import PASSWORD_CHANGE_REQUIRED
from backoffice.models import User
from backoffice.services import operator_create

pytestmark = pytest.mark.django_db

NEW = "x-long-new-passphrase-7"
OWN = "my-own-chosen-passphrase-9"


@pytest.fixture
def reset_target(client, make_operator):
    """A treasury operator whose password a manager has just reset in the admin."""
    manager = make_operator("itibackoffice-master", email="manager@bank.example")
    target = make_operator("treasury-operator", email="t@bank.example")
    client.force_login(manager)
    url = reverse("admin:backoffice_user_change", args=[target.pk]).replace("/change/", "/password/")
    posted = {"password1": NEW, "password2": NEW, "usable_password": "true"}
    assert client.post(url, posted).status_code == 302
    client.logout()
    target.refresh_from_db()
    return target


def test_a_reset_by_a_manager_requires_a_change_at_next_sign_in(client, reset_target):
    assert reset_target.password_change_required and reset_target.check_password(NEW)
    client.force_login(reset_target)
    for page in (reverse("admin:index"), reverse("admin:phones_phone_changelist")):
        answer = client.get(page)
        assert answer.status_code == 302 and answer.url == reverse("admin:password_change")
    assert client.get(reverse("admin:password_change")).status_code == 200
    changed = client.post(
        reverse("admin:password_change"), {"old_password": NEW, "new_password1": OWN, "new_password2": OWN}
    )
    assert changed.status_code == 302
    reset_target.refresh_from_db()
    assert not reset_target.password_change_required and reset_target.check_password(OWN)
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_failed_change_keeps_the_requirement(client, reset_target):
    client.force_login(reset_target)
    answer = client.post(
        reverse("admin:password_change"), {"old_password": "wrong", "new_password1": OWN, "new_password2": OWN}
    )
    assert answer.status_code == 200
    reset_target.refresh_from_db()
    assert reset_target.password_change_required
    # Visiting the "done" page does not clear it either.
    client.get(reverse("admin:password_change_done"))
    reset_target.refresh_from_db()
    assert reset_target.password_change_required


def test_no_token_for_a_password_someone_else_chose(reset_target):
    answer = APIClient().post("/auth/token", {"email": reset_target.email, "password": NEW}, format="json")
    assert (answer.status_code, answer.json()) == (403, {"message": PASSWORD_CHANGE_REQUIRED})
    User.objects.filter(pk=reset_target.pk).update(password_change_required=False)
    again = APIClient().post("/auth/token", {"email": reset_target.email, "password": NEW}, format="json")
    assert again.status_code == 200


def test_an_operator_created_with_a_password_by_a_manager_changes_it_first(make_operator):
    manager = make_operator("itibackoffice-master", email="manager@bank.example")
    created = operator_create(actor=manager, email="new@bank.example", roles=["crm-operator"], password=NEW)
    assert created.password_change_required


def test_changing_ones_own_password_requires_nothing_more(client, make_operator):
    from backoffice.tests.factories import PASSWORD

    me = make_operator("crm-operator", email="me@bank.example")
    client.force_login(me)
    changed = client.post(
        reverse("admin:password_change"), {"old_password": PASSWORD, "new_password1": OWN, "new_password2": OWN}
    )
    assert changed.status_code == 302
    me.refresh_from_db()
    assert not me.password_change_required
