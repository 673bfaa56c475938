"""Each operator's language and time zone, and the middleware that puts them in force.

The admin speaks the signed-in operator's language (``User.language``) and shows times in their
zone (``User.time_zone``), named beside every time (``backoffice.formats``). The anonymous pages
(sign-in, MFA) follow the language cookie Django's ``set_language`` writes, then the browser's
``Accept-Language``, then ``OPERATOR_DEFAULT_LANGUAGE``.

The API, the providers' callbacks and the API docs are left alone: they answer in the contract's
words (English) and times in UTC, whatever the caller's preferences or headers, and pay nothing
for this (no query, no catalogue lookup beyond a thread-local reset).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from backoffice.middleware import is_api_path

# The languages an operator may choose, each named in its own language (what a switch shows).
LANGUAGE_CHOICES = [("pt-br", "Português (Brasil)"), ("en", "English")]


def default_language() -> str:
    """A new operator's language: the deployment's ``OPERATOR_DEFAULT_LANGUAGE``."""
    return settings.OPERATOR_DEFAULT_LANGUAGE


def default_time_zone() -> str:
    """A new operator's time zone: the deployment's ``OPERATOR_DEFAULT_TIME_ZONE``."""
    return settings.OPERATOR_DEFAULT_TIME_ZONE


@lru_cache(maxsize=1)
def time_zone_names() -> list[str]:
    """Every IANA zone this machine knows, sorted (the preferences page's choices)."""
    return sorted(available_timezones())


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(zone)s is not a known time zone."), params={"zone": value}) from None


class NamedZone(ZoneInfo):
    """A zone whose name is its IANA key ("America/Sao_Paulo"), not its abbreviation ("-03").

    The admin's date formats print the zone's name beside every time (format character ``e``);
    an inspector reads where the time is from, not an offset. Offsets and daylight saving are
    ZoneInfo's own. Database functions that take the current zone (``TruncDate``) read this name
    too, and PostgreSQL knows the same keys.
    """

    def tzname(self, dt: object) -> str:
        return self.key


def zone_of(name: str) -> NamedZone:
    """The operator's zone; an unknown name (an edited row, a removed zone) falls back to the
    default rather than failing every page."""
    try:
        return NamedZone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return NamedZone(settings.OPERATOR_DEFAULT_TIME_ZONE)


def _supported(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def anonymous_language(request: HttpRequest) -> str:
    """The sign-in page's language: the cookie ``set_language`` wrote, the browser's
    ``Accept-Language`` when it names a language we have, else the operators' default."""
    chosen = _supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
    if chosen:
        return chosen
    if request.META.get("HTTP_ACCEPT_LANGUAGE"):
        # Django's own negotiation; it answers LANGUAGE_CODE when nothing in the header matches.
        return translation.get_language_from_request(request)
    return settings.OPERATOR_DEFAULT_LANGUAGE


def speaks_contract(path: str) -> bool:
    """The API, the callbacks, the schema and Swagger UI: never translated, times in UTC."""
    return is_api_path(path) or path.startswith("/api/")


class OperatorLocaleMiddleware:
    """Activates the operator's language and time zone for the admin; resets both to the
    project's (English, UTC) for the API. Runs after authentication: the operator's row is the
    one the session already loaded (its preferences are columns of it), so no query is added.

    Both are thread-local and a worker thread serves the admin and the API in turn, so every
    request sets them, the API's included (a reset, no lookup)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if speaks_contract(request.path):
            translation.deactivate()
            timezone.deactivate()
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = _supported(user.language) or settings.OPERATOR_DEFAULT_LANGUAGE
            zone = zone_of(user.time_zone)
        else:
            language = anonymous_language(request)
            zone = zone_of(settings.OPERATOR_DEFAULT_TIME_ZONE)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        timezone.activate(zone)
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
