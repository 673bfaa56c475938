"""The rules of each phone operation, and their messages: pure functions, no database.

The API, the admin form and the services call these (Zulip's ``check_*``, Saleor's ``clean_*``);
each returns the cleaned values or raises ``PhoneValidationError`` naming the *domain* field
(``account_id``, ``customer_id``, ``number``...). An interface that speaks another vocabulary
maps the name (the API's contract says ``accountId`` and ``x-customer-id``).

Rules that need the database (the duplicate, decided by a unique index; the inactive phone,
read under the row lock) are the unit of work's and the services', not these.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext, gettext_noop

from backoffice.ids import INT64_MAX
from phones.errors import PhoneError, PhoneValidationError, PhoneValidationErrors
from phones.limits import AREA_CODE_MAX, COUNTRY_CODE_MAX, DEFAULT_COUNTRY_CODE, EXTENSION_MAX_LENGTH, NUMBER_MAX_LENGTH
from phones.models import PhoneType
from phones.numbers import number_problem

EDITABLE_FIELDS = ("number", "type", "area_code", "country_code", "extension", "active")

# The rules' messages: the API's (DRF's own words, in English whatever the language in force).
STRING_REQUIRED = gettext_noop("A valid string is required.")
TOO_LONG = gettext_noop("Ensure this field has no more than %(max)d characters.")
NOT_A_CHOICE = gettext_noop('"%(value)s" is not a valid choice.')
OUT_OF_RANGE = gettext_noop("Ensure this value is between %(low)d and %(high)d.")
NOT_BOOLEAN = gettext_noop("Must be a valid boolean.")
UNKNOWN_FIELD = gettext_noop("Unknown field.")
# Unicode categories an extension never holds: controls (Cc: NUL, ESC, DEL...), format characters
# (Cf: bidi overrides, zero-width ones) and surrogates (Cs): shown or exported, they would rewrite
# what an operator reads.
INVISIBLE = {"Cc", "Cf", "Cs"}
CONTROL_CHARACTERS = gettext_noop("Control and format characters are not allowed.")
NOTHING_GIVEN = gettext_noop("At least one field must be given.")


def _problem(field: str, template: str, **params: Any) -> PhoneValidationError:
    """The error in the contract's English (what the API answers); its template (in the catalogue)
    and values stay on it for an interface that shows it in the operator's language
    (``phones.admin_forms.shown_problem``)."""
    error = PhoneValidationError(field, template % params if params else template)
    error.template, error.params = template, params
    return error


def shown_problem(error: PhoneError) -> str:
    """A rule's message in the language in force (the admin's: the operator's); the error itself
    keeps the contract's English. Messages without a template (the services') are looked up as
    they are."""
    template = getattr(error, "template", None)
    if template is None:
        return gettext(error.message)
    params = getattr(error, "params", None)
    return gettext(template) % params if params else gettext(template)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_field(field: str, value: Any) -> Any:
    """One editable field's rule; returns the cleaned value."""
    if field == "number":
        # Spaces around are dropped; any other character is the rule's to refuse (``str.strip``
        # also took Unicode and control whitespace away).
        value = value.strip(" ") if isinstance(value, str) else value
        if not isinstance(value, str):
            raise _problem(field, STRING_REQUIRED)
        if len(value) > NUMBER_MAX_LENGTH:
            raise _problem(field, TOO_LONG, max=NUMBER_MAX_LENGTH)
        if problem := number_problem(value):
            raise _problem(field, problem)
    elif field == "type":
        if value not in PhoneType.values:
            raise _problem(field, NOT_A_CHOICE, value=value)
    elif field == "area_code":
        if value is not None and (not _is_int(value) or not 0 <= value <= AREA_CODE_MAX):
            raise _problem(field, OUT_OF_RANGE, low=0, high=AREA_CODE_MAX)
    elif field == "country_code":
        if not _is_int(value) or not 0 <= value <= COUNTRY_CODE_MAX:
            raise _problem(field, OUT_OF_RANGE, low=0, high=COUNTRY_CODE_MAX)
    elif field == "extension":
        if value is not None and not isinstance(value, str):
            raise _problem(field, STRING_REQUIRED)
        value = (value or "").strip() or None
        if value is not None and len(value) > EXTENSION_MAX_LENGTH:
            raise _problem(field, TOO_LONG, max=EXTENSION_MAX_LENGTH)
        if value is not None and any(unicodedata.category(char) in INVISIBLE for char in value):
            raise _problem(field, CONTROL_CHARACTERS)
    elif field == "active":
        if not isinstance(value, bool):
            raise _problem(field, NOT_BOOLEAN)
    else:
        raise _problem(field, UNKNOWN_FIELD)
    return value


def check_account_id(account_id: Any) -> int:
    if not _is_int(account_id) or not 1 <= account_id <= INT64_MAX:
        raise _problem("account_id", OUT_OF_RANGE, low=1, high=INT64_MAX)
    return account_id


def check_customer_id(customer_id: Any) -> int | None:
    if customer_id is not None and (not _is_int(customer_id) or not 1 <= customer_id <= INT64_MAX):
        raise _problem("customer_id", OUT_OF_RANGE, low=1, high=INT64_MAX)
    return customer_id


def _first_or_all(problems: list[PhoneValidationError]) -> PhoneValidationError:
    return problems[0] if len(problems) == 1 else PhoneValidationErrors(problems)


def field_problems(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[PhoneValidationError]]:
    """Check every field given (editable fields, ``account_id``, ``customer_id``) and collect
    every broken rule instead of stopping at the first: ``(cleaned values, problems)``, both in
    the order of ``values``. A form passes the fields that parsed, to show all errors at once."""
    cleaned: dict[str, Any] = {}
    problems: list[PhoneValidationError] = []
    for field, value in values.items():
        try:
            if field == "account_id":
                cleaned[field] = check_account_id(value)
            elif field == "customer_id":
                cleaned[field] = check_customer_id(value)
            else:
                cleaned[field] = check_field(field, value)
        except PhoneValidationError as error:
            problems.append(error)
    return cleaned, problems


def check_phone_create(
    *,
    account_id: Any,
    number: Any,
    type: Any,
    area_code: Any = None,
    country_code: Any = DEFAULT_COUNTRY_CODE,
    extension: Any = None,
    active: Any = True,
    customer_id: Any = None,
) -> dict[str, Any]:
    """A new phone's values, cleaned. Every field is checked; the error raised stands for the
    first broken rule in the contract's order (what the API names) and carries them all
    (``PhoneValidationErrors.errors``, what a form shows)."""
    cleaned, problems = field_problems(
        {
            "account_id": account_id,
            "customer_id": customer_id,
            "number": number,
            "type": type,
            "area_code": area_code,
            "country_code": country_code,
            "extension": extension,
            "active": active,
        }
    )
    if problems:
        raise _first_or_all(problems)
    return cleaned


def check_phone_update(data: Mapping[str, Any]) -> dict[str, Any]:
    """A partial update: a non-empty subset of ``EDITABLE_FIELDS``, each cleaned; errors as
    ``check_phone_create``'s, in the order of ``data``."""
    if not data:
        raise _problem("body", NOTHING_GIVEN)
    unknown = [field for field in data if field not in EDITABLE_FIELDS]
    if unknown:
        raise _problem(unknown[0], UNKNOWN_FIELD)
    cleaned, problems = field_problems(data)
    if problems:
        raise _first_or_all(problems)
    return cleaned
