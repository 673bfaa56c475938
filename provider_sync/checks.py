"""The rules of a provider link: which provider, which settings, which number. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from phones.errors import PhoneValidationError
from phones.models import Provider
from phones.numbers import is_possible_e164
from provider_sync.adapters import PlivoSettings, SinchSettings
from provider_sync.adapters.base import E164_RE

_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\ud800-\udfff]")

SETTINGS_CLASSES: dict[str, type[SinchSettings] | type[PlivoSettings]] = {
    Provider.SINCH: SinchSettings,
    Provider.PLIVO: PlivoSettings,
}


def settings_fields(provider: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(SETTINGS_CLASSES[Provider(provider)]))


def check_settings(provider: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's settings, validated and complete (absent keys as None).

    Raises ``PhoneValidationError`` naming ``provider``, ``settings`` or ``settings.<field>``.
    """
    if provider not in Provider.values:
        raise PhoneValidationError("provider", f'"{provider}" is not a valid choice.')
    if not isinstance(data, Mapping):
        raise PhoneValidationError("settings", "Expected a JSON object.")
    known = settings_fields(provider)
    for key, value in data.items():
        if key not in known:
            raise PhoneValidationError(f"settings.{key}", f"Unknown {provider} setting.")
        if value is not None and not isinstance(value, str):
            raise PhoneValidationError(f"settings.{key}", "A valid string is required.")
        if isinstance(value, str) and _UNSENDABLE.search(value):
            # NUL, other control characters and lone surrogates: no provider takes them, and
            # PostgreSQL's JSON refuses the first and the last.
            raise PhoneValidationError(f"settings.{key}", "Control characters are not allowed.")
    cleaned = {key: ((data.get(key) or "").strip() or None) for key in known}
    problems = SETTINGS_CLASSES[Provider(provider)](**cleaned).validate()
    if problems:
        field, message = problems[0]
        raise PhoneValidationError(f"settings.{field}", message)
    return cleaned


def check_remote_number(value: Any) -> str:
    """The number at the provider: E.164, or "" for the phone's own."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PhoneValidationError("remote_number", "A valid string is required.")
    value = value.strip()
    if value and not E164_RE.match(value):
        raise PhoneValidationError("remote_number", "Enter an E.164 number, e.g. +5511912345678.")
    return value


def check_link(*, provider: str, settings: Mapping[str, Any], remote_number: Any) -> tuple[dict[str, Any], str]:
    """A link's settings and remote number, cleaned (settings first, as the API reports them)."""
    return check_settings(provider, settings), check_remote_number(remote_number)


CANNOT_LINK = "This number cannot be linked to a provider"


def check_link_target(*, remote_number: str, phone_e164: str | None) -> str:
    """The number a link would hold at its provider (``remote_number``, else the phone's E.164),
    which libphonenumber must find possible: nothing implausible is sent to a provider.

    Raises ``PhoneValidationError`` naming ``remote_number`` when one was given, else ``number``
    (the phone's). Pure: the admin form calls it too.
    """
    field = "remote_number" if remote_number else "number"
    target = remote_number or phone_e164 or ""
    if not target:
        raise PhoneValidationError(field, f"{CANNOT_LINK}: the phone's number has no E.164 form.")
    if not is_possible_e164(target):
        raise PhoneValidationError(field, f"{CANNOT_LINK}: libphonenumber finds {target} impossible for its country.")
    return target


def check_callback_timestamp(value: Any, *, now: datetime, window: timedelta) -> datetime:
    """The time a signed provider callback says it was sent (its ``timestamp``, ISO 8601 with an
    offset, e.g. ``2026-11-29T10:00:00.123Z``), which must be within ``window`` of ``now`` either
    way: an old signed body replayed later, or one dated ahead to outlive the replay cache, is
    refused. Raises ``ValueError`` saying why.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("callback has no timestamp")
    try:
        sent_at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("callback timestamp is not an ISO 8601 date and time") from None
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise ValueError("callback timestamp has no time zone")
    if abs(now - sent_at) > window:
        raise ValueError(f"callback timestamp is more than {int(window.total_seconds())} seconds from our clock")
    return sent_at
