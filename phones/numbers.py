"""Phone-number normalisation shared by the model, the services and the search."""

from __future__ import annotations

import re

import phonenumbers
from django.utils.translation import gettext_noop

# The contract's integer formats (ids are int64, area codes int32), defined by the core.
from backoffice.ids import INT32_MAX, INT64_MAX  # noqa: F401

# What an operator may type around the digits: "(11) 91234-5678", "91234 5678", "9.1234.5678".
# ASCII only, matched whole: ``\s`` took U+00A0, U+2028, U+3000, U+001C and VT, and ``$`` a
# trailing newline, which were stored.
_ALLOWED = re.compile(r"[0-9 ().\-]+")
_NON_DIGITS = re.compile(r"\D")


def digits_only(value: str | None) -> str:
    return _NON_DIGITS.sub("", value or "")


def number_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable phone number, or None: in the contract's English (the
    API's words); marked for the catalogue, the admin translates it when it shows it."""
    if not value.strip(" "):
        return gettext_noop("This field may not be blank.")
    if not _ALLOWED.fullmatch(value):
        return gettext_noop("Only digits, spaces and ( ) . - are allowed.")
    if not digits_only(value):
        return gettext_noop("A phone number needs at least one digit.")
    return None


def to_e164(*, country_code: int | None, area_code: int | None, number: str) -> str | None:
    """The E.164 form, via libphonenumber; None when the parts cannot form a phone number, or form
    one that libphonenumber finds impossible for its country (its length fits no number there: "11"
    would have been "+5511"). The same number spelt with its area code in the number, or after a
    trunk "0", gets the same E.164: the duplicate rule compares this."""
    national = f"{area_code if area_code is not None else ''}{digits_only(number)}"
    if country_code is None or not national:
        return None
    try:
        parsed = phonenumbers.parse(f"+{country_code}{national}", None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    # E.164 caps the whole number at 15 digits.
    return formatted if len(formatted) <= 16 else None


def format_international(e164: str | None) -> str:
    """Human form for operators, e.g. "+55 11 91234-5678"."""
    if not e164:
        return ""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def is_possible_e164(e164: str | None) -> bool:
    """Whether libphonenumber finds ``e164`` a possible phone number (its length fits its country's
    numbering plan). What is not possible is never sent to a provider."""
    if not e164:
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return False
