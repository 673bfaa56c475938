"""Codes as an authenticator app computes them (django-otp's own TOTP), for the tests."""

from __future__ import annotations

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice import mfa


def code_of(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code the authenticator shows now (or ``steps_ahead`` 30-second steps later: a code of
    a step already used is refused as a replay, the next one is accepted)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def code_for_secret(secret: str, steps_ahead: int = 0) -> str:
    """The code for a base32 secret as shown on the enrolment page (what a person types in)."""
    from base64 import b32decode

    totp = TOTP(b32decode(secret.replace(" ", "")), 30, 0, 6, 0)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def enrolled(user: object) -> tuple[TOTPDevice, list[str]]:
    """Enrol an authenticator for ``user`` through the service: (device, recovery codes)."""
    device = mfa.start_enrolment(user)
    enrolment = mfa.confirm_enrolment(user, code_of(device))
    assert enrolment is not None
    return enrolment.device, enrolment.recovery_codes
