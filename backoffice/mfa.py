"""Multi-factor authentication of people (django-otp): an authenticator app (TOTP) with recovery
codes, who must use it (``MFA_REQUIRED_PERMISSIONS``), enrolment and reset.

Pure decisions and the only writes of OTP devices; the sign-in views (``backoffice.mfa_views``)
and the token endpoint (``backoffice.api_auth``) ask here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice import access_signals
from backoffice.models import User
from backoffice.services import OperatorChangeRefused, may_change_operator

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
# An authenticator's code is six digits; anything else can only be a recovery code. Each kind is
# checked against its own devices only: django-otp throttles a device after each failure, so a
# TOTP code tried on the recovery codes (``django_otp.match_token``) would lock them out a
# little more at every sign-in.
_TOTP_CODE = re.compile(r"^\d{6}$")
_RECOVERY_CODE = re.compile(r"^[a-z0-9]{1,16}$")  # StaticToken: 16 characters at most


def mfa_required(user: Any) -> bool:
    """Whether this operator must sign in with a second factor: it holds one of the
    ``MFA_REQUIRED_PERMISSIONS`` (a superuser holds them all)."""
    return any(user.has_perm(permission) for permission in settings.MFA_REQUIRED_PERMISSIONS)


def is_enrolled(user: Any) -> bool:
    """Whether the operator has a confirmed authenticator: its sign-ins then need a code, in the
    admin and at ``/auth/token``, whatever its roles."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def second_step(user: Any) -> str | None:
    """What a sign-in with the right password still needs: ``"verify"`` (a code), ``"enrol"``
    (an authenticator, before anything else) or ``None`` (nothing)."""
    if is_enrolled(user):
        return "verify"
    if mfa_required(user):
        return "enrol"
    return None


def _normalise(code: str | None) -> str:
    # People type codes with spaces or dashes ("123 456", "abcd-efgh-..."): neither is part of one.
    return re.sub(r"[\s-]", "", code or "").lower()


def verify_code(user: Any, code: str | None) -> Device | None:
    """The device that accepts ``code`` for this operator (an authenticator's current code, or a
    recovery code, which is then used up), or ``None``. Under the devices' row locks: two
    requests cannot both use one recovery code or one time step."""
    code = _normalise(code)
    if _TOTP_CODE.match(code):
        devices = TOTPDevice.objects.devices_for_user(user, confirmed=True)
    elif _RECOVERY_CODE.match(code):
        devices = StaticDevice.objects.devices_for_user(user, confirmed=True)
    else:
        return None
    with transaction.atomic():
        for device in devices.select_for_update():
            if device.verify_token(code):
                return device
    return None


def start_enrolment(user: Any) -> TOTPDevice:
    """The operator's authenticator being enrolled (unconfirmed): the same one on every visit
    until it is confirmed, so the secret shown does not change under the person scanning it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]  # shown once, never again


def confirm_enrolment(user: Any, code: str | None) -> Enrolment | None:
    """Confirm the authenticator being enrolled with a code it shows; ``None`` if the code is
    wrong. New recovery codes replace any earlier ones; the other authenticators being enrolled
    are dropped. One transaction: a half-enrolled operator never exists."""
    code = _normalise(code)
    if not _TOTP_CODE.match(code):
        return None
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
        if device is None or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        StaticDevice.objects.filter(user=user).delete()
        recovery = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
        access_signals.mfa_changed.send(sender=TOTPDevice, actor=user, operator=user, action="enrolled")
    return Enrolment(device=device, recovery_codes=codes)


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def may_reset_mfa(actor: Any, operator: User) -> bool:
    """An operator manager resets the MFA of an operator it may change (never a superuser's or
    another manager's: ``backoffice.services.reach_refusal``); a superuser, anybody's."""
    return actor.has_perm("backoffice.change_user") and may_change_operator(actor, operator)


def reset_mfa(actor: Any, operator: User) -> None:
    """Remove every authenticator and recovery code of ``operator`` (a lost phone): its next
    sign-in enrols again if its roles require MFA. The one place an MFA reset happens: the
    operator-actions audit event belongs here."""
    if not may_reset_mfa(actor, operator):
        raise OperatorChangeRefused(gettext("You may not reset this operator's MFA."))
    with transaction.atomic():
        TOTPDevice.objects.filter(user=operator).delete()
        StaticDevice.objects.filter(user=operator).delete()
        access_signals.mfa_changed.send(sender=TOTPDevice, actor=actor, operator=operator, action="reset")
