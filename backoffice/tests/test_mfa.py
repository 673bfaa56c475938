"""MFA of people (backoffice.mfa, backoffice.mfa_views): enrolment, sign-in with a code or a
recovery code, who must use it, reset by a manager, ``/auth/token`` with ``otp``, the lockout.

Codes are computed with django-otp's own TOTP (``django_otp.oath``, ``backoffice.tests.otp``), as an authenticator app
would; the devices' throttling is off here (its own delays are django-otp's, tested there) so
that a wrong code can be followed by a right one at once.
"""

from __future__ import annotations

import re
import time
from base64 import b32encode

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from backoffice import mfa
from backoffice.services import OperatorChangeRefused
from backoffice.tests.factories import PASSWORD
from backoffice.tests.otp import code_of, enrolled

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
VERIFY = "/admin/mfa/verify/"
ENROL = "/admin/mfa/enrol/"


@pytest.fixture(autouse=True)
def _no_device_throttling(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    settings.AXES_FAILURE_LIMIT = 5


def signed_in(client: Client) -> bool:
    return bool(client.session.get("_auth_user_id"))


def failures(email: str) -> int:
    from axes.models import AccessAttempt

    return sum(AccessAttempt.objects.filter(username=email).values_list("failures_since_start", flat=True))


# --- Enrolment ---------------------------------------------------------------------------------
def test_enrolment_shows_the_secret_confirms_with_a_code_and_shows_recovery_codes_once(make_operator):
    operator = make_operator("crm-operator")
    client = Client()
    answer = client.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == ENROL
    assert not signed_in(client)

    page = client.get(ENROL)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    secret = b32encode(device.bin_key).decode()
    shown = re.search(r'id="mfa-secret"[^>]*>([A-Z2-7 ]+)<', page.content.decode()).group(1)
    assert shown.replace(" ", "") == secret
    assert "<svg" in page.content.decode()  # the QR code, drawn inline: nothing loaded from elsewhere
    # The page shows the same secret again until it is confirmed.
    client.get(ENROL)
    assert TOTPDevice.objects.filter(user=operator).count() == 1

    wrong = client.post(ENROL, {"otp": "000000" if code_of(device) != "000000" else "111111"})
    assert wrong.status_code == 200 and "This code is not valid" in wrong.content.decode()
    assert not signed_in(client) and not mfa.is_enrolled(operator)

    done = client.post(ENROL, {"otp": code_of(device)})
    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    codes = done.context["codes"]
    assert len(codes) == mfa.RECOVERY_CODE_COUNT and len(set(codes)) == len(codes)
    assert all(code in done.content.decode() for code in codes)
    assert set(StaticToken.objects.filter(device__user=operator).values_list("token", flat=True)) == set(codes)
    assert signed_in(client) and client.session["otp_device_id"] == device.persistent_id
    assert mfa.is_enrolled(operator)
    # Shown once: the enrolment page now leads away and shows no code.
    again = client.get(ENROL)
    assert again.status_code == 302 and not any(code in again.content.decode() for code in codes)
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("path", ["/admin/", "/admin/phones/phone/", "/admin/backoffice/user/", "/api/docs/"])
def test_an_operator_who_must_enrol_reaches_nothing_before_enrolling(make_operator, path):
    operator = make_operator("itibackoffice-master")
    client = Client()
    assert client.post(LOGIN, {"username": operator.email, "password": PASSWORD})["Location"] == ENROL
    answer = client.get(path)
    assert answer.status_code == 302 and answer["Location"].startswith(LOGIN)
    # Nor the API by session: the password step signs nobody in.
    assert client.get("/accounts/v1/accounts/1/phones").status_code == 401
    # Back to the sign-in page and in again: still enrolment, never the admin.
    assert client.post(LOGIN, {"username": operator.email, "password": PASSWORD})["Location"] == ENROL


def test_an_exempt_role_signs_in_without_mfa(make_operator):
    operator = make_operator("treasury-operator")
    client = Client()
    answer = client.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert signed_in(client) and not mfa.mfa_required(operator)


def test_the_required_permissions_are_a_setting(make_operator, settings):
    crm, treasury, superuser = (
        make_operator("crm-operator"),
        make_operator("treasury-operator"),
        make_operator(is_superuser=True),
    )
    assert mfa.mfa_required(crm) and mfa.mfa_required(superuser) and not mfa.mfa_required(treasury)
    settings.MFA_REQUIRED_PERMISSIONS = ["phones.view_phone"]
    assert mfa.mfa_required(treasury)
    settings.MFA_REQUIRED_PERMISSIONS = []
    client = Client()
    assert client.post(LOGIN, {"username": crm.email, "password": PASSWORD})["Location"] == "/admin/"


def test_a_signed_in_exempt_operator_may_enrol_and_then_needs_the_code(make_operator):
    operator = make_operator("treasury-operator")
    client = Client()
    client.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    assert client.get(ENROL).status_code == 200
    device = TOTPDevice.objects.get(user=operator)
    assert client.post(ENROL, {"otp": code_of(device)}).status_code == 200
    fresh = Client()
    assert fresh.post(LOGIN, {"username": operator.email, "password": PASSWORD})["Location"] == VERIFY
    assert not signed_in(fresh)


def test_the_enrolment_page_is_for_signed_in_or_password_checked_operators_only(client):
    assert client.get(ENROL)["Location"] == LOGIN
    assert client.get(VERIFY)["Location"] == LOGIN


# --- Sign-in with the code ---------------------------------------------------------------------
def test_sign_in_needs_the_code_once_enrolled(make_operator):
    operator = make_operator("backoffice-operator")
    device, _ = enrolled(operator)
    client = Client()
    answer = client.post(f"{LOGIN}?next=/admin/phones/phone/", {"username": operator.email, "password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == VERIFY
    assert not signed_in(client)
    assert client.get("/admin/")["Location"].startswith(LOGIN)

    page = client.get(VERIFY)
    assert page.status_code == 200 and operator.email in page.content.decode()
    wrong = client.post(VERIFY, {"otp": "12345"})
    assert wrong.status_code == 200 and "This code is not valid" in wrong.content.decode()
    assert not signed_in(client) and failures(operator.email) == 1
    # The code is not written down with the failure (axes keeps the form's data, masked).
    from axes.models import AccessAttempt

    stored = AccessAttempt.objects.get(username=operator.email).post_data
    assert "otp=" in stored and "12345" not in stored

    right = client.post(VERIFY, {"otp": code_of(device, steps_ahead=1)})
    assert right.status_code == 302 and right["Location"] == "/admin/phones/phone/"
    assert signed_in(client) and client.session["otp_device_id"] == device.persistent_id
    assert failures(operator.email) == 0  # a complete sign-in resets the count
    assert client.get("/admin/phones/phone/").status_code == 200


def test_a_recovery_code_signs_in_once(make_operator):
    operator = make_operator("crm-operator")
    _, codes = enrolled(operator)
    first = Client()
    first.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    answer = first.post(VERIFY, {"otp": codes[0].upper()})  # typed in capitals: still the code
    assert answer.status_code == 302 and signed_in(first)
    assert mfa.recovery_codes_left(operator) == mfa.RECOVERY_CODE_COUNT - 1

    second = Client()
    second.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    refused = second.post(VERIFY, {"otp": codes[0]})
    assert refused.status_code == 200 and not signed_in(second)
    assert second.post(VERIFY, {"otp": codes[1]}).status_code == 302 and signed_in(second)


def test_wrong_codes_lock_the_operator_out_and_a_new_password_step_does_not_reset_the_count(make_operator):
    operator = make_operator("crm-operator")
    device, _ = enrolled(operator)
    client = Client()
    client.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    for _ in range(2):
        assert client.post(VERIFY, {"otp": "99999"}).status_code == 200
    # The password again (right) must not buy another round of guesses.
    assert client.post(LOGIN, {"username": operator.email, "password": PASSWORD})["Location"] == VERIFY
    assert failures(operator.email) == 2
    for _ in range(2):
        assert client.post(VERIFY, {"otp": "99999"}).status_code == 200
    locked = client.post(VERIFY, {"otp": "99999"})
    assert locked.status_code == 429 and "Sign-in temporarily locked" in locked.content.decode()
    # Locked out: the right code no longer helps, nor does the password.
    assert client.post(VERIFY, {"otp": code_of(device, steps_ahead=1)})["Location"] == LOGIN
    assert not signed_in(client)
    again = client.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    assert again.status_code == 429 and not signed_in(client)


def test_a_pending_password_step_expires(make_operator, monkeypatch):
    from backoffice import mfa_views

    operator = make_operator("crm-operator")
    device, _ = enrolled(operator)
    client = Client()
    client.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    monkeypatch.setattr(mfa_views.time, "time", lambda: time.monotonic() + 10**10)
    answer = client.post(VERIFY, {"otp": code_of(device, steps_ahead=1)})
    assert answer.status_code == 302 and answer["Location"] == LOGIN and not signed_in(client)


# --- Reset by a manager ------------------------------------------------------------------------
def test_a_manager_resets_an_operators_mfa(make_operator):
    manager = make_operator("itibackoffice-master")
    operator = make_operator("crm-operator")
    enrolled(operator)
    client = Client()
    client.force_login(manager)
    change = client.get(f"/admin/backoffice/user/{operator.pk}/change/")
    assert "Reset MFA" in change.content.decode()
    confirm = client.get(f"/admin/backoffice/user/{operator.pk}/mfa-reset/")
    assert confirm.status_code == 200 and "Yes, reset" in confirm.content.decode()
    assert mfa.is_enrolled(operator)  # a GET changes nothing
    done = client.post(f"/admin/backoffice/user/{operator.pk}/mfa-reset/")
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=operator).exists()
    assert not StaticDevice.objects.filter(user=operator).exists()
    # Its next sign-in enrols a new authenticator.
    assert Client().post(LOGIN, {"username": operator.email, "password": PASSWORD})["Location"] == ENROL


def test_only_who_may_change_an_operator_resets_its_mfa(make_operator):
    manager = make_operator("itibackoffice-master")
    other_manager = make_operator("itibackoffice-master")
    operator = make_operator("crm-operator")
    enrolled(other_manager)
    enrolled(operator)
    treasury = make_operator("treasury-operator")
    for actor, target in ((manager, other_manager), (operator, manager), (treasury, operator)):
        client = Client()
        client.force_login(actor)
        assert client.post(f"/admin/backoffice/user/{target.pk}/mfa-reset/").status_code == 403
        with pytest.raises(OperatorChangeRefused):
            mfa.reset_mfa(actor, target)
    assert mfa.is_enrolled(other_manager) and mfa.is_enrolled(operator)
    # A manager sees no reset link on a page where it could not use it.
    client = Client()
    client.force_login(manager)
    assert "Reset MFA" not in client.get(f"/admin/backoffice/user/{other_manager.pk}/change/").content.decode()
    superuser = make_operator(is_superuser=True)
    mfa.reset_mfa(superuser, other_manager)
    assert not mfa.is_enrolled(other_manager)


# --- /auth/token ----------------------------------------------------------------------------------
def token(email: str, **body: str):
    return APIClient().post("/auth/token", {"email": email, "password": PASSWORD, **body}, format="json")


def test_the_token_endpoint_needs_the_code_once_enrolled(make_operator):
    operator = make_operator("crm-operator")
    assert token(operator.email).status_code == 200  # not enrolled (yet): the password is enough
    device, codes = enrolled(operator)
    for body in ({}, {"otp": ""}, {"otp": "123"}, {"otp": "not a code"}):
        answer = token(operator.email, **body)
        assert answer.status_code == 401, body
        assert set(answer.json()) == {"message"} and "authentication code" in answer.json()["message"]
        assert "access" not in answer.json()
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    issued = OutstandingToken.objects.count()
    assert token(operator.email, otp=code_of(device, steps_ahead=1)).status_code == 200
    assert OutstandingToken.objects.count() == issued + 1  # refused sign-ins issued nothing
    assert token(operator.email, otp=codes[0]).status_code == 200
    assert token(operator.email, otp=codes[0]).status_code == 401  # a recovery code works once
    # A wrong password with the right code is still a wrong password.
    wrong = APIClient().post(
        "/auth/token", {"email": operator.email, "password": "nope", "otp": codes[1]}, format="json"
    )
    assert wrong.status_code == 401


def test_wrong_codes_at_the_token_endpoint_count_for_the_lockout(make_operator):
    from axes.models import AccessAttempt

    operator = make_operator("crm-operator")
    device, _ = enrolled(operator)
    for _ in range(4):
        assert token(operator.email, otp="98765").status_code == 401
    assert failures(operator.email) == 4
    locked = token(operator.email, otp="98765")
    assert locked.status_code == 429 and set(locked.json()) == {"message"}
    assert token(operator.email, otp=code_of(device, steps_ahead=1)).status_code == 429
    # The code was never in the credentials axes records (its failure counts by email only).
    assert AccessAttempt.objects.filter(username=operator.email).exists()
    assert not any("98765" in (row or "") for row in AccessAttempt.objects.values_list("post_data", flat=True))


def test_the_otp_field_is_in_our_api_document(settings):
    settings.API_DOCS_PUBLIC = True
    document = Client().get("/api/schema/?format=json").json()
    body = document["paths"]["/auth/token"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["otp"]["type"] == "string" and schema["properties"]["otp"]["maxLength"] == 32
    assert set(schema["required"]) == {"email", "password"}


def test_a_reset_ends_the_sessions_its_authenticator_signed_in(make_operator):
    """A reset is for a lost or stolen phone: whoever signed in with it is signed out at once,
    in the admin and on the API by session."""
    manager = make_operator("itibackoffice-master")
    operator = make_operator("crm-operator")
    device, _ = enrolled(operator)
    client = Client()
    client.post(LOGIN, {"username": operator.email, "password": PASSWORD})
    assert client.post(VERIFY, {"otp": code_of(device, steps_ahead=1)}).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/accounts/v1/accounts/1/phones").status_code == 200
    mfa.reset_mfa(manager, operator)
    answer = client.get("/admin/")
    assert answer.status_code == 302 and answer["Location"].startswith(LOGIN)
    assert not signed_in(client)
    assert client.get("/accounts/v1/accounts/1/phones").status_code == 401


def test_an_operator_sent_to_enrolment_cannot_skip_it_through_the_code_page(make_operator):
    operator = make_operator("crm-operator")
    client = Client()
    assert client.post(LOGIN, {"username": operator.email, "password": PASSWORD})["Location"] == ENROL
    assert client.get(VERIFY)["Location"] == ENROL
    assert client.post(VERIFY, {"otp": "123456"})["Location"] == ENROL
    assert not signed_in(client) and failures(operator.email) == 0
