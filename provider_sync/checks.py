"""The rules of a provider link (which provider, which settings, which number) and of a provider's
callback. Pure functions: the few that read Django's settings say so."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext_noop

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


def check_settings(
    provider: str, data: Mapping[str, Any], *, callback_policy: CallbackUrlPolicy | None = None
) -> dict[str, Any]:
    """A provider's settings, validated and complete (absent keys as None). A Sinch callback URL
    is checked under ``callback_policy`` (by default the settings', ``CallbackUrlPolicy``).

    Raises ``PhoneValidationError`` naming ``provider``, ``settings`` or ``settings.<field>``.
    """
    if provider not in Provider.values:
        raise PhoneValidationError("provider", f'"{provider}" is not a valid choice.')
    if not isinstance(data, Mapping):
        raise PhoneValidationError("settings", gettext_noop("Expected a JSON object."))
    known = settings_fields(provider)
    for key, value in data.items():
        if key not in known:
            raise PhoneValidationError(f"settings.{key}", f"Unknown {provider} setting.")
        if value is not None and not isinstance(value, str):
            raise PhoneValidationError(f"settings.{key}", gettext_noop("A valid string is required."))
        if isinstance(value, str) and _UNSENDABLE.search(value):
            # NUL, other control characters and lone surrogates: no provider takes them, and
            # PostgreSQL's JSON refuses the first and the last.
            raise PhoneValidationError(f"settings.{key}", gettext_noop("Control characters are not allowed."))
    cleaned = {key: ((data.get(key) or "").strip() or None) for key in known}
    problems = SETTINGS_CLASSES[Provider(provider)](**cleaned).validate()
    if problems:
        field, message = problems[0]
        raise _setting_problem(f"settings.{field}", message)
    if cleaned.get("callback_url"):
        try:
            check_callback_url(cleaned["callback_url"], callback_policy or CallbackUrlPolicy.from_settings())
        except ValueError as error:
            raise _setting_problem("settings.callback_url", str(error)) from None
    return cleaned


# The settings' and the callback URL's rules say what is wrong in English (the adapters do not
# import Django; the API answers the English). Their templates, for the catalogue: the admin shows
# them in the operator's language (``phones.checks.shown_problem`` reads ``template`` and ``params``).
_SETTING_PROBLEMS = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"must be one of (?P<choices>.+)", gettext_noop("must be one of %(choices)s")),
        (r"voice type (?P<type>\S+) needs (?P<key>\S+)", gettext_noop("voice type %(type)s needs %(key)s")),
        (r"a voice target id needs a voice type", gettext_noop("a voice target id needs a voice type")),
        (r"a campaign needs an SMS service plan", gettext_noop("a campaign needs an SMS service plan")),
        (r"must be an http\(s\) URL", gettext_noop("must be an http(s) URL")),
        (r"must be at most (?P<max>\d+) characters", gettext_noop("must be at most %(max)s characters")),
        (
            r"must be an auth id: MA or SA followed by 18 letters or digits",
            gettext_noop("must be an auth id: MA or SA followed by 18 letters or digits"),
        ),
        (r"must not be blank", gettext_noop("must not be blank")),
        (r"must be a valid URL", gettext_noop("must be a valid URL")),
        (r"must not carry credentials \(user:password@\)", gettext_noop("must not carry credentials (user:password@)")),
        (r"must name a host", gettext_noop("must name a host")),
        (r"must use https", gettext_noop("must use https")),
        (
            r"must not point at a loopback, private, link-local, multicast or reserved address \((?P<ip>.+)\)",
            gettext_noop("must not point at a loopback, private, link-local, multicast or reserved address (%(ip)s)"),
        ),
        (
            r"must not point at an internal host \((?P<host>.+)\)",
            gettext_noop("must not point at an internal host (%(host)s)"),
        ),
        (
            r"must name a public host with its domain, not (?P<host>.+)",
            gettext_noop("must name a public host with its domain, not %(host)s"),
        ),
    )
)


def _setting_problem(field: str, message: str) -> PhoneValidationError:
    """The error as the API answers it (``message``), with its template and values when a rule
    above wrote it, for the admin to translate."""
    error = PhoneValidationError(field, message)
    for pattern, template in _SETTING_PROBLEMS:
        if match := pattern.fullmatch(message):
            error.template, error.params = template, match.groupdict()  # type: ignore[attr-defined]
            break
    return error


def check_remote_number(value: Any) -> str:
    """The number at the provider: E.164, or "" for the phone's own."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PhoneValidationError("remote_number", gettext_noop("A valid string is required."))
    value = value.strip()
    if value and not E164_RE.match(value):
        raise PhoneValidationError("remote_number", gettext_noop("Enter an E.164 number, e.g. +5511912345678."))
    return value


def check_link(*, provider: str, settings: Mapping[str, Any], remote_number: Any) -> tuple[dict[str, Any], str]:
    """A link's settings and remote number, cleaned (settings first, as the API reports them)."""
    return check_settings(provider, settings), check_remote_number(remote_number)


CANNOT_LINK = "This number cannot be linked to a provider"


# A phone's number that libphonenumber finds impossible gets no E.164 (``phones.numbers.to_e164``).
NO_E164 = gettext_noop(
    "This number cannot be linked to a provider: libphonenumber finds the phone's number impossible for its country "
    "(it has no E.164 form)."
)


# A remote number libphonenumber finds impossible (the API's message; the admin translates it).
IMPOSSIBLE_TARGET = gettext_noop(
    "This number cannot be linked to a provider: libphonenumber finds %(number)s impossible for its country."
)


def check_link_target(*, remote_number: str, phone_e164: str | None) -> str:
    """The number a link would hold at its provider (``remote_number``, else the phone's E.164),
    which libphonenumber must find possible: nothing implausible is sent to a provider.

    Raises ``PhoneValidationError`` naming ``remote_number`` when one was given, else ``number``
    (the phone's). Pure: the admin form calls it too.
    """
    field = "remote_number" if remote_number else "number"
    target = remote_number or phone_e164 or ""
    if not target:
        raise PhoneValidationError(field, NO_E164)
    if not is_possible_e164(target):
        error = PhoneValidationError(field, IMPOSSIBLE_TARGET % {"number": target})
        error.template, error.params = IMPOSSIBLE_TARGET, {"number": target}  # type: ignore[attr-defined]
        raise error
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


# Where a provider must never be told to post: the cloud metadata services (also reached by their
# link-local addresses, refused below) and names that only mean something inside a network.
INTERNAL_HOSTNAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".lan", ".intranet", ".home.arpa")
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")


@dataclass(frozen=True)
class CallbackUrlPolicy:
    """What a callback URL may be: ``https_only`` (``CALLBACK_URL_HTTPS_ONLY``, on in
    production); ``allow_loopback``: the provider simulator's callbacks to the local web server
    (``PROVIDER_SIMULATOR``), over http too."""

    https_only: bool
    allow_loopback: bool

    @classmethod
    def from_settings(cls) -> CallbackUrlPolicy:
        from django.conf import settings

        return cls(https_only=settings.CALLBACK_URL_HTTPS_ONLY, allow_loopback=settings.PROVIDER_SIMULATOR)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally, in any form a URL parser reads as one: dotted, IPv6,
    and the shorthand, decimal, octal and hex IPv4 forms (``127.1``, ``2130706433``, ``0x7f.1``)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local (169.254.169.254 and friends), multicast, reserved,
    unspecified, shared or documentation space, also when an IPv6 address carries an IPv4 one."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and _not_public(embedded):
            return True
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def check_callback_url(url: str, policy: CallbackUrlPolicy) -> str:
    """A Sinch ``callbackUrl``: where the provider will post signed provisioning events.

    https (when ``policy.https_only``), no credentials in it, and a public host: literal
    addresses are refused when loopback, private, link-local, multicast or reserved (in any
    spelling), host names when internal (``localhost``, the cloud metadata names, ``.internal``,
    ``.local``..., or a single label). A name is not resolved here: the provider resolves it when
    it posts, so an answer we got today would prove nothing (and saving a link would hang on DNS).
    Loopback passes only when ``policy.allow_loopback`` (the simulator). Raises ``ValueError``.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("must be a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not carry credentials (user:password@)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("must name a host")
    if port == 0:
        raise ValueError("must be a valid URL")
    ip = _ip_literal(host)
    loopback = ip.is_loopback if ip is not None else (host == "localhost" or host.endswith(".localhost"))
    if loopback and policy.allow_loopback:
        return url
    if policy.https_only and scheme != "https":
        raise ValueError("must use https")
    if ip is not None:
        if _not_public(ip):
            raise ValueError(f"must not point at a loopback, private, link-local, multicast or reserved address ({ip})")
        return url
    if host in INTERNAL_HOSTNAMES or host.endswith(INTERNAL_SUFFIXES):
        raise ValueError(f"must not point at an internal host ({host})")
    if "." not in host:
        raise ValueError(f"must name a public host with its domain, not {host}")
    return url
