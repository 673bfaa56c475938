"""The rules of each phone operation, and their messages: pure functions, no database.

The API, the admin form and the services call these (Zulip's ``check_*``, Saleor's ``clean_*``);
each returns the cleaned values or raises ``PhoneValidationError`` naming the *domain* field
(``account_id``, ``customer_id``, ``number``...). An interface that speaks another vocabulary
maps the name (the API's contract says ``accountId`` and ``x-customer-id``).

Rules that need the database (the duplicate, decided by a unique index; the inactive phone,
read under the row lock) are the unit of work's and the services', not these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backoffice.ids import INT64_MAX
from phones.errors import PhoneValidationError, PhoneValidationErrors
from phones.limits import AREA_CODE_MAX, COUNTRY_CODE_MAX, DEFAULT_COUNTRY_CODE, EXTENSION_MAX_LENGTH, NUMBER_MAX_LENGTH
from phones.models import PhoneType
from phones.numbers import number_problem

EDITABLE_FIELDS = ("number", "type", "area_code", "country_code", "extension", "active")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_field(field: str, value: Any) -> Any:
    """One editable field's rule; returns the cleaned value."""
    if field == "number":
        # Spaces around are dropped; any other character is the rule's to refuse (``str.strip``
        # also took Unicode and control whitespace away).
        value = value.strip(" ") if isinstance(value, str) else value
        if not isinstance(value, str):
            raise PhoneValidationError(field, "A valid string is required.")
        if len(value) > NUMBER_MAX_LENGTH:
            raise PhoneValidationError(field, f"Ensure this field has no more than {NUMBER_MAX_LENGTH} characters.")
        if problem := number_problem(value):
            raise PhoneValidationError(field, problem)
    elif field == "type":
        if value not in PhoneType.values:
            raise PhoneValidationError(field, f'"{value}" is not a valid choice.')
    elif field == "area_code":
        if value is not None and (not _is_int(value) or not 0 <= value <= AREA_CODE_MAX):
            raise PhoneValidationError(field, f"Ensure this value is between 0 and {AREA_CODE_MAX}.")
    elif field == "country_code":
        if not _is_int(value) or not 0 <= value <= COUNTRY_CODE_MAX:
            raise PhoneValidationError(field, f"Ensure this value is between 0 and {COUNTRY_CODE_MAX}.")
    elif field == "extension":
        if value is not None and not isinstance(value, str):
            raise PhoneValidationError(field, "A valid string is required.")
        value = (value or "").strip() or None
        if value is not None and len(value) > EXTENSION_MAX_LENGTH:
            raise PhoneValidationError(field, f"Ensure this field has no more than {EXTENSION_MAX_LENGTH} characters.")
    elif field == "active":
        if not isinstance(value, bool):
            raise PhoneValidationError(field, "Must be a valid boolean.")
    else:
        raise PhoneValidationError(field, "Unknown field.")
    return value


def check_account_id(account_id: Any) -> int:
    if not _is_int(account_id) or not 1 <= account_id <= INT64_MAX:
        raise PhoneValidationError("account_id", f"Ensure this value is between 1 and {INT64_MAX}.")
    return account_id


def check_customer_id(customer_id: Any) -> int | None:
    if customer_id is not None and (not _is_int(customer_id) or not 1 <= customer_id <= INT64_MAX):
        raise PhoneValidationError("customer_id", f"Ensure this value is between 1 and {INT64_MAX}.")
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
        raise PhoneValidationError("body", "At least one field must be given.")
    unknown = [field for field in data if field not in EDITABLE_FIELDS]
    if unknown:
        raise PhoneValidationError(unknown[0], "Unknown field.")
    cleaned, problems = field_problems(data)
    if problems:
        raise _first_or_all(problems)
    return cleaned
