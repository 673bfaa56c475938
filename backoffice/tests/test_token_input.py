"""Odd sign-ins at ``/auth/token`` (issue 14): a 400 in the API's shape that counts no failure,
and a successful sign-in resets the failure count as in the admin."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_an_email_over_255_characters_at_auth_token_is_a_400_and_counts_nothing(make_operator):
    """It was a 500: axes wrote the failure with the email into a 255-character column."""
    from axes.models import AccessAttempt

    make_operator("crm-operator")
    answer = APIClient().post("/auth/token", {"email": "a" * 300 + "@bank.example", "password": "x"}, format="json")
    assert answer.status_code == 400 and answer.json()["field"] == "email"
    assert not AccessAttempt.objects.exists()


@pytest.mark.parametrize(("email", "password"), [("a\x00@bank.example", "x"), (None, "x\x00y")])
def test_nul_in_the_email_or_password_is_a_400_and_counts_nothing(make_operator, email, password):
    from axes.models import AccessAttempt

    operator = make_operator("crm-operator")
    answer = APIClient().post("/auth/token", {"email": email or operator.email, "password": password}, format="json")
    assert answer.status_code == 400 and set(answer.json()) == {"message", "field"}
    assert not AccessAttempt.objects.exists()


def test_a_successful_token_resets_the_failure_count(make_operator, settings):
    """2 wrong, 1 right, 3 wrong locked the operator out at /auth/token: simplejwt never tells
    axes that a sign-in succeeded."""
    from backoffice.tests.factories import PASSWORD

    settings.AXES_FAILURE_LIMIT = 5
    operator = make_operator("crm-operator")
    client = APIClient()

    def sign_in(password):
        return client.post("/auth/token", {"email": operator.email, "password": password}, format="json")

    assert [sign_in("wrong").status_code for _ in range(2)] == [401, 401]
    assert sign_in(PASSWORD).status_code == 200
    assert [sign_in("wrong").status_code for _ in range(3)] == [401, 401, 401]
    assert sign_in(PASSWORD).status_code == 200
    # The lockout itself still holds: five failures in a row lock the email out.
    for _ in range(5):
        sign_in("wrong")
    locked = sign_in(PASSWORD)
    assert locked.status_code >= 400 and "access" not in locked.json()


def test_a_successful_admin_sign_in_resets_the_failure_count(make_operator, settings):
    from django.test import Client

    from backoffice.tests.factories import PASSWORD

    settings.AXES_FAILURE_LIMIT = 5
    # A role that signs in with the password alone: with MFA the count is reset only once the
    # code is given too (test_mfa.py).
    operator = make_operator("treasury-operator")

    def sign_in(password):
        browser = Client()
        answer = browser.post("/admin/login/", {"username": operator.email, "password": password})
        return answer.status_code, bool(browser.session.get("_auth_user_id"))

    assert [sign_in("wrong") for _ in range(2)] == [(200, False)] * 2
    assert sign_in(PASSWORD) == (302, True)
    assert [sign_in("wrong") for _ in range(3)] == [(200, False)] * 3
    assert sign_in(PASSWORD) == (302, True)


@pytest.mark.parametrize(
    ("username", "password"),
    [("a" * 300 + "@bank.example", "x"), ("a\x00@bank.example", "x"), ("operator@bank.example", "x\x00y")],
    ids=["long-email", "nul-email", "nul-password"],
)
def test_odd_admin_sign_ins_are_a_form_error_and_count_nothing(make_operator, username, password):
    from axes.models import AccessAttempt
    from django.test import Client

    make_operator("crm-operator", email="operator@bank.example")
    answer = Client().post("/admin/login/", {"username": username, "password": password})
    assert answer.status_code == 200 and answer.context["form"].errors
    assert not AccessAttempt.objects.exists()
