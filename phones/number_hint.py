"""What libphonenumber says about a number as an operator types it: its E.164 form and whether it
is plausible (valid for its country? mobile or fixed line?). Pure: the admin's live preview
(``PhoneAdmin.number_preview_view``) renders it next to the number field.

A hint, never a rule: the rules and their messages stay in ``phones.checks`` (what may be saved)
and ``phones.numbers`` (which E.164 is derived); a number libphonenumber finds possible but not
valid may still be saved, and the hint says so.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from phonenumbers import PhoneNumberType

from backoffice.ids import whole_number
from phones.checks import check_field, shown_problem
from phones.errors import PhoneValidationError
from phones.models import Phone, PhoneType
from phones.numbers import format_international, to_e164

# What an operator reads for libphonenumber's number types.
KINDS = {
    PhoneNumberType.FIXED_LINE: _("fixed line"),
    PhoneNumberType.MOBILE: _("mobile"),
    PhoneNumberType.FIXED_LINE_OR_MOBILE: _("fixed line or mobile"),
    PhoneNumberType.TOLL_FREE: _("toll-free"),
    PhoneNumberType.PREMIUM_RATE: _("premium-rate"),
    PhoneNumberType.SHARED_COST: _("shared-cost"),
    PhoneNumberType.VOIP: "VoIP",
    PhoneNumberType.PERSONAL_NUMBER: _("personal number"),
    PhoneNumberType.PAGER: _("pager"),
    PhoneNumberType.UAN: "UAN",
    PhoneNumberType.VOICEMAIL: _("voicemail"),
}
# The kinds that contradict the phone's type: a MOBILE phone on a fixed line, a residential or
# commercial one on a mobile.
_CONTRADICTS = {
    PhoneType.MOBILE: {PhoneNumberType.FIXED_LINE},
    PhoneType.RESIDENTIAL: {PhoneNumberType.MOBILE},
    PhoneType.COMMERCIAL: {PhoneNumberType.MOBILE},
}
# Longer input is not a number anyone typed; the check's own limit is lower still.
MAX_INPUT = 64


def _hint(level: str, message: str, e164: str | None = None) -> dict[str, Any]:
    return {"level": level, "message": message, "e164": e164, "formatted": format_international(e164)}


def _code(field: str, raw: str) -> int | None:
    """An optional whole number for ``field`` within its rule; raises ``PhoneValidationError``."""
    raw = raw.strip()
    if not raw:
        return None
    value = whole_number(raw)
    if value is None:
        raise PhoneValidationError(field, gettext("Enter a whole number."))
    return check_field(field, value)


def number_hint(*, number: str, area_code: str, country_code: str, phone_type: str = "") -> dict[str, Any]:
    """The preview of a number as typed (the form's raw values): ``level`` (``empty``, ``error``,
    ``warning``, ``ok``), ``message`` for the operator, ``e164`` and its ``formatted`` form."""
    if not number.strip(" "):
        return _hint("empty", gettext("Type the number to see its E.164 form."))
    if len(number) > MAX_INPUT or len(area_code) > MAX_INPUT or len(country_code) > MAX_INPUT:
        return _hint("error", gettext("Too long to be a phone number."))
    try:
        number = check_field("number", number)
        area = _code("area_code", area_code)
        country = _code("country_code", country_code)
    except PhoneValidationError as error:
        label = capfirst(Phone._meta.get_field(error.field).verbose_name)
        return _hint("error", f"{label}: {shown_problem(error)}")
    if country is None:
        return _hint("error", gettext("Give the country code to see the E.164 form."))
    e164 = to_e164(country_code=country, area_code=area, number=number)
    if e164 is None:
        return _hint(
            "error",
            gettext(
                "Not a possible number for country code +%(country)s: it gets no E.164 form and cannot be "
                "linked to a provider."
            )
            % {"country": country},
        )
    parsed = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(parsed)
    if not phonenumbers.is_valid_number(parsed):
        if region:
            message = gettext("Possible, but not a valid number in %(region)s: check the digits.") % {"region": region}
        else:
            message = gettext("Possible, but not a valid number for country code +%(country)s: check the digits.") % {
                "country": country
            }
        return _hint("warning", message, e164)
    kind = phonenumbers.number_type(parsed)
    label = KINDS.get(kind, gettext("number"))
    if region:
        message = gettext("Valid %(region)s %(kind)s number.") % {"region": region, "kind": label}
    else:
        message = gettext("Valid %(kind)s number.") % {"kind": label}
    if kind in _CONTRADICTS.get(phone_type, set()):
        said = gettext("The type says %(type)s.") % {"type": PhoneType(phone_type).label}
        return _hint("warning", f"{message} {said}", e164)
    return _hint("ok", message, e164)
