"""API tokens that die with access (issue 13): a refresh token is used once, signing out blacklists
it, and every token of an operator stops working at once when its password changes, it is
deactivated or a role is taken away, with no query added to a request."""

from __future__ import annotations

import io
from collections.abc import Callable
from unittest import mock

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from backoffice.models import User
from backoffice.tests.factories import PASSWORD
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db
LIST = "/accounts/v1/accounts/7/phones"
NEW_PASSWORD = "another-long-unusual-passphrase-17"


def sign_in(operator: User, password: str = PASSWORD) -> dict:
    answer = APIClient().post("/auth/token", {"email": operator.email, "password": password}, format="json")
    assert answer.status_code == 200, answer.json()
    return answer.json()


def list_with(access: str):
    return APIClient().get(LIST, HTTP_AUTHORIZATION=f"Bearer {access}")


def refresh_with(refresh: str):
    return APIClient().post("/auth/token/refresh", {"refresh": refresh}, format="json")


def logout_with(refresh: str | None):
    body = {} if refresh is None else {"refresh": refresh}
    return APIClient().post("/auth/logout", body, format="json")


def assert_refused(answer) -> None:
    assert answer.status_code == 401, (answer.status_code, answer.content)
    assert set(answer.json()) == {"message"}


@pytest.fixture
def operator(make_operator):
    return make_operator("crm-operator", "treasury-operator", email="jane@bank.example")


def admin_client(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def change_url(user: User) -> str:
    return reverse("admin:backoffice_user_change", args=[user.pk])


# --- Refresh tokens are used once ------------------------------------------------------------------
def test_a_refresh_token_gives_a_new_pair_once(operator):
    """The old refresh token kept issuing access tokens for its whole 24 hours."""
    first = sign_in(operator)
    renewed = refresh_with(first["refresh"])
    assert renewed.status_code == 200 and set(renewed.json()) == {"access", "refresh"}
    assert renewed.json()["refresh"] != first["refresh"]
    assert list_with(renewed.json()["access"]).status_code == 200
    assert_refused(refresh_with(first["refresh"]))  # used up
    again = refresh_with(renewed.json()["refresh"])  # the new one works, once
    assert again.status_code == 200
    assert_refused(refresh_with(renewed.json()["refresh"]))


def test_a_refresh_token_of_an_operator_that_is_gone_is_a_401_not_a_500(operator):
    tokens = sign_in(operator)
    User.objects.filter(pk=operator.pk).delete()  # not possible in the admin; the API says 401, not 500
    assert_refused(refresh_with(tokens["refresh"]))


# --- Sign-out --------------------------------------------------------------------------------------
def test_logout_blacklists_the_refresh_token_without_an_access_token(operator):
    tokens = sign_in(operator)
    answer = logout_with(tokens["refresh"])  # no Authorization header: the refresh token is enough
    assert answer.status_code == 204 and answer.content == b""
    assert_refused(refresh_with(tokens["refresh"]))
    assert_refused(logout_with(tokens["refresh"]))  # already signed out


def test_logout_refuses_what_is_not_a_refresh_token(operator):
    tokens = sign_in(operator)
    assert_refused(logout_with(tokens["access"]))  # the wrong type
    assert_refused(logout_with("not-a-token"))
    missing = logout_with(None)
    assert missing.status_code == 400 and missing.json()["field"] == "refresh"
    assert refresh_with(tokens["refresh"]).status_code == 200  # none of that touched the real one


# --- Every token dies with the operator's access -------------------------------------------------
def _password_in_the_admin(operator: User, superuser: User, manager: User) -> None:
    answer = admin_client(manager).post(
        change_url(operator).replace("/change/", "/password/"),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert answer.status_code == 302
    return None  # no new pair until the operator chooses their own password (test_password_policy)


def _password_disabled_in_the_admin(operator: User, superuser: User, manager: User) -> None:
    answer = admin_client(superuser).post(
        change_url(operator).replace("/change/", "/password/"), {"usable_password": "false", "unset-password": "1"}
    )
    assert answer.status_code == 302
    operator.refresh_from_db()
    assert not operator.has_usable_password()


def _password_reset(operator: User, superuser: User, manager: User) -> str:
    # The form of Django's password reset (and of an operator's own change, without the old one).
    form = SetPasswordForm(operator, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert form.is_valid(), form.errors
    form.save()
    return NEW_PASSWORD


def _changepassword_command(operator: User, superuser: User, manager: User) -> str:
    prompt = "django.contrib.auth.management.commands.changepassword.getpass.getpass"
    with mock.patch(prompt, return_value=NEW_PASSWORD):
        call_command("changepassword", operator.email, stdout=io.StringIO())
    return NEW_PASSWORD


def _deactivated_in_the_admin(operator: User, superuser: User, manager: User) -> None:
    answer = admin_client(superuser).post(
        change_url(operator), {"full_name": "Jane", "roles": ["crm-operator", "treasury-operator"]}
    )
    assert answer.status_code == 302
    operator.refresh_from_db()
    assert not operator.is_active


def _role_removed_in_the_admin(operator: User, superuser: User, manager: User) -> str:
    answer = admin_client(superuser).post(
        change_url(operator), {"full_name": "Jane", "is_active": "on", "roles": ["treasury-operator"]}
    )
    assert answer.status_code == 302
    assert set(operator.groups.values_list("name", flat=True)) == {"treasury-operator"}
    return PASSWORD


def _role_removed_from_the_roles_side(operator: User, superuser: User, manager: User) -> str:
    Group.objects.get(name="crm-operator").user_set.remove(operator)
    return PASSWORD


def _roles_cleared(operator: User, superuser: User, manager: User) -> str:
    operator.groups.clear()
    operator.groups.add(Group.objects.get(name="treasury-operator"))
    return PASSWORD


def _role_deleted(operator: User, superuser: User, manager: User) -> str:
    Group.objects.get(name="crm-operator").delete()
    return PASSWORD


REVOCATIONS: dict[str, Callable[..., str | None]] = {
    "password set in the admin": _password_in_the_admin,
    "password disabled in the admin": _password_disabled_in_the_admin,
    "password reset": _password_reset,
    "changepassword command": _changepassword_command,
    "deactivated in the admin": _deactivated_in_the_admin,
    "role removed in the admin": _role_removed_in_the_admin,
    "role removed from the role's side": _role_removed_from_the_roles_side,
    "roles cleared": _roles_cleared,
    "role deleted": _role_deleted,
}


@pytest.mark.parametrize("change", list(REVOCATIONS), ids=list(REVOCATIONS))
def test_every_token_of_the_operator_dies_at_once(change, operator, make_operator):
    """The old access token answered 200 and the old refresh token kept working after each of these."""
    superuser = make_operator(is_superuser=True, email="root@bank.example")
    manager = make_operator("itibackoffice-master", email="manager@bank.example")
    before = [sign_in(operator), sign_in(operator)]  # two sessions (two devices)
    assert all(list_with(tokens["access"]).status_code == 200 for tokens in before)

    password = REVOCATIONS[change](operator, superuser, manager)

    for tokens in before:
        assert_refused(list_with(tokens["access"]))
        assert_refused(refresh_with(tokens["refresh"]))
    if password is not None:  # the operator can still sign in: a new pair works
        fresh = sign_in(operator, password)
        assert list_with(fresh["access"]).status_code == 200
        assert refresh_with(fresh["refresh"]).status_code == 200


def test_reactivating_an_operator_does_not_bring_its_old_tokens_back(operator, make_operator):
    """Deactivation refused the tokens while it lasted (``is_active``); reactivating revived them."""
    superuser = make_operator(is_superuser=True, email="root@bank.example")
    tokens = sign_in(operator)
    _deactivated_in_the_admin(operator, superuser, superuser)
    signed_out = APIClient().post("/auth/token", {"email": operator.email, "password": PASSWORD}, format="json")
    assert signed_out.status_code == 401
    answer = admin_client(superuser).post(
        change_url(operator), {"full_name": "Jane", "is_active": "on", "roles": ["crm-operator", "treasury-operator"]}
    )
    assert answer.status_code == 302
    assert_refused(list_with(tokens["access"]))
    assert_refused(refresh_with(tokens["refresh"]))
    assert list_with(sign_in(operator)["access"]).status_code == 200


def test_a_stale_copy_of_the_operator_saved_later_does_not_revive_its_tokens(operator):
    tokens = sign_in(operator)
    stale = User.objects.get(pk=operator.pk)  # read before the reset, saved after it
    _password_reset(operator, operator, operator)
    stale.full_name = "Jane Doe"
    stale.save()
    assert_refused(list_with(tokens["access"]))
    assert_refused(refresh_with(tokens["refresh"]))
    assert User.objects.get(pk=operator.pk).token_version == 1


def test_what_takes_no_access_away_keeps_the_tokens(operator, make_operator, settings, monkeypatch):
    """A stronger hash of the same password (at sign-in), a new name, a role added: no revocation."""
    tokens = sign_in(operator)
    superuser = make_operator(is_superuser=True, email="root@bank.example")
    roles = ["crm-operator", "treasury-operator", "inspetoria-operator"]
    answer = admin_client(superuser).post(
        change_url(operator), {"full_name": "Jane D.", "is_active": "on", "roles": roles}
    )
    assert answer.status_code == 302
    monkeypatch.setattr(PBKDF2PasswordHasher, "iterations", 1000)  # its strength is not the point
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    sign_in(operator)  # upgrades the stored MD5 hash to PBKDF2
    assert User.objects.get(pk=operator.pk).password.startswith("pbkdf2_")
    assert list_with(tokens["access"]).status_code == 200
    assert refresh_with(tokens["refresh"]).status_code == 200


def test_a_token_without_the_version_claim_counts_as_the_first_version(operator):
    """simplejwt's own ``RefreshToken.for_user`` (some tests use it) issues no version claim: it
    works for an operator whose version never rose, and dies with the first revocation."""
    from rest_framework_simplejwt.tokens import RefreshToken

    plain = RefreshToken.for_user(operator)
    assert list_with(str(plain.access_token)).status_code == 200
    operator.groups.remove(Group.objects.get(name="treasury-operator"))
    assert_refused(list_with(str(plain.access_token)))
    assert_refused(refresh_with(str(plain)))


@pytest.mark.postgres
def test_the_version_check_costs_no_query(operator, django_assert_num_queries):
    """The operator's row (its token version among its columns), its role ids and the role matrix
    version are one statement, as before: a phone read costs that one and the phone's."""
    phone = PhoneFactory(account_id=7, actor=operator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {sign_in(operator)['access']}")
    assert client.get(f"{LIST}/{phone.pk}").status_code == 200  # loads the role matrix
    with django_assert_num_queries(2):
        assert client.get(f"{LIST}/{phone.pk}").status_code == 200
    operator.groups.remove(Group.objects.get(name="treasury-operator"))
    with django_assert_num_queries(1):  # refused from the operator's row alone
        assert client.get(f"{LIST}/{phone.pk}").status_code == 401


def test_beat_deletes_the_rows_of_expired_refresh_tokens(operator, settings):
    """simplejwt keeps a row per refresh token issued or blacklisted: they would pile up for ever."""
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from backoffice.celery import app
    from backoffice.tasks import FLUSH_EXPIRED_TOKENS_TASK, flush_expired_tokens

    tokens = sign_in(operator)
    expired = OutstandingToken.objects.create(
        user=operator, jti="expired", token="-", expires_at=timezone.now() - timedelta(seconds=1)
    )
    flush_expired_tokens()
    assert not OutstandingToken.objects.filter(pk=expired.pk).exists()
    assert refresh_with(tokens["refresh"]).status_code == 200  # a live one is untouched
    assert settings.CELERY_BEAT_SCHEDULE["flush-expired-tokens"]["task"] == FLUSH_EXPIRED_TOKENS_TASK
    assert FLUSH_EXPIRED_TOKENS_TASK in app.tasks
