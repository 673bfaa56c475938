"""The pure checks: the rules and messages every entry point shares (no database)."""

from __future__ import annotations

import pytest

from phones import checks
from phones.errors import PhoneValidationError
from phones.limits import EXTENSION_MAX_LENGTH, NUMBER_MAX_LENGTH


def test_create_cleans_values_in_the_contracts_order():
    cleaned = checks.check_phone_create(
        account_id=5, number=" 91234-5678 ", type="MOBILE", area_code=11, extension="  ", customer_id=None
    )
    assert cleaned == {
        "account_id": 5,
        "customer_id": None,
        "number": "91234-5678",
        "type": "MOBILE",
        "area_code": 11,
        "country_code": 55,
        "extension": None,
        "active": True,
    }


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"account_id": 0}, "account_id", "Ensure this value is between 1 and 9223372036854775807."),
        ({"account_id": True}, "account_id", "Ensure this value is between 1 and 9223372036854775807."),
        ({"customer_id": -1}, "customer_id", "Ensure this value is between 1 and 9223372036854775807."),
        ({"number": "1" * (NUMBER_MAX_LENGTH + 1)}, "number", "Ensure this field has no more than 15 characters."),
        ({"number": "abc"}, "number", "Only digits, spaces and ( ) . - are allowed."),
        ({"number": " "}, "number", "This field may not be blank."),
        ({"type": "PAGER"}, "type", '"PAGER" is not a valid choice.'),
        ({"area_code": -1}, "area_code", "Ensure this value is between 0 and 2147483647."),
        ({"country_code": 100000}, "country_code", "Ensure this value is between 0 and 99999."),
        (
            {"extension": "x" * (EXTENSION_MAX_LENGTH + 1)},
            "extension",
            "Ensure this field has no more than 10 characters.",
        ),
        ({"active": "yes"}, "active", "Must be a valid boolean."),
        # A terminal escape, a bidi override, a DEL and a lone surrogate: stored, they would be
        # shown to operators and exported as they are.
        ({"extension": "1\x1b[31m"}, "extension", "Control and format characters are not allowed."),
        ({"extension": "ext.\u202e9"}, "extension", "Control and format characters are not allowed."),
        ({"extension": "9\x7f"}, "extension", "Control and format characters are not allowed."),
        ({"extension": "9\ud800"}, "extension", "Control and format characters are not allowed."),
    ],
)
def test_create_names_the_domain_field_and_the_rule(values, field, message):
    base = {"account_id": 5, "number": "91234-5678", "type": "MOBILE"}
    with pytest.raises(PhoneValidationError) as caught:
        checks.check_phone_create(**{**base, **values})
    assert (caught.value.field, caught.value.message) == (field, message)


def test_update_needs_known_fields_and_at_least_one():
    with pytest.raises(PhoneValidationError) as empty:
        checks.check_phone_update({})
    assert empty.value.field == "body"
    with pytest.raises(PhoneValidationError) as unknown:
        checks.check_phone_update({"account_id": 3})
    assert (unknown.value.field, unknown.value.message) == ("account_id", "Unknown field.")
    assert checks.check_phone_update({"extension": " 9 ", "active": False}) == {"extension": "9", "active": False}
