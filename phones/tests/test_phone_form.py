"""The phone form helps: every error at once, Number marked required, inactivation confirmed and
told once, and a live E.164 preview with libphonenumber's plausibility hint."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditEntry
from backoffice.api_errors import exception_handler
from phones import checks
from phones.api.views import PhoneCollectionApi
from phones.errors import PhoneValidationError, PhoneValidationErrors
from phones.models import Phone
from phones.number_hint import number_hint
from phones.tests.factories import PhoneFactory
from phones.versions import phone_version

ADD_URL = reverse("admin:phones_phone_add")
LIST_URL = reverse("admin:phones_phone_changelist")


def preview_url() -> str:
    return reverse("admin:phones_phone_number_preview")


@pytest.fixture
def crm(make_operator):
    return make_operator("crm-operator", email="carla.crm@bank.example")


@pytest.fixture
def crm_client(client, crm):
    client.force_login(crm)
    return client


def add_form(**overrides):
    return {
        "account_id": "32422",
        "number": "91234-5678",
        "type": "MOBILE",
        "area_code": "11",
        "country_code": "55",
        "extension": "",
        **overrides,
    }


def edit_form(phone, **overrides):
    return {
        "version": phone_version(Phone.objects.get(pk=phone.pk)),
        "number": phone.number,
        "type": phone.type,
        "area_code": str(phone.area_code),
        "country_code": str(phone.country_code),
        "extension": phone.extension or "",
        "active": "on",
        **overrides,
    }


# --- every error at once -------------------------------------------------------------------------
def test_the_checks_collect_every_broken_rule_and_stand_for_the_first():
    with pytest.raises(PhoneValidationErrors) as caught:
        checks.check_phone_create(account_id=0, number="12ab", type="MOBILE", country_code=100000, extension="x" * 11)
    error = caught.value
    # The API names the first bad field in the contract's order, as before.
    assert (error.field, error.message) == ("account_id", "Ensure this value is between 1 and 9223372036854775807.")
    assert [(e.field, e.message) for e in error.errors] == [
        ("account_id", "Ensure this value is between 1 and 9223372036854775807."),
        ("number", "Only digits, spaces and ( ) . - are allowed."),
        ("country_code", "Ensure this value is between 0 and 99999."),
        ("extension", "Ensure this field has no more than 10 characters."),
    ]


def test_one_broken_rule_is_a_plain_validation_error():
    with pytest.raises(PhoneValidationError) as caught:
        checks.check_phone_update({"number": "12ab", "extension": "9"})
    assert type(caught.value) is PhoneValidationError and caught.value.errors == [caught.value]


def test_an_update_collects_in_the_order_given():
    with pytest.raises(PhoneValidationErrors) as caught:
        checks.check_phone_update({"extension": "x" * 11, "number": ""})
    assert [e.field for e in caught.value.errors] == ["extension", "number"]


def test_the_api_still_names_the_first_bad_field():
    collected = PhoneValidationErrors(
        [PhoneValidationError("account_id", "first"), PhoneValidationError("number", "second")]
    )
    response = exception_handler(collected, {"view": PhoneCollectionApi()})
    assert (response.status_code, response.data) == (400, {"message": "first", "field": "accountId"})


@pytest.mark.django_db
def test_the_add_form_shows_every_error_at_once(crm_client):
    response = crm_client.post(
        ADD_URL,
        add_form(account_id="0", number="12ab", area_code="abc", country_code="100000", extension="x" * 11),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {
        "account_id": ["Ensure this value is between 1 and 9223372036854775807."],
        "number": ["Only digits, spaces and ( ) . - are allowed."],
        "area_code": ["Enter a whole number."],
        "country_code": ["Ensure this value is between 0 and 99999."],
        "extension": ["Ensure this field has no more than 10 characters."],
    }
    assert not Phone.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_the_edit_form_shows_every_error_at_once(crm_client, crm):
    phone = PhoneFactory(actor=crm)
    response = crm_client.post(
        reverse("admin:phones_phone_change", args=[phone.pk]),
        edit_form(phone, number="", type="PAGER", extension="x" * 11),
    )
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"number", "type", "extension"}
    assert errors["number"] == ["This field may not be blank."]
    assert Phone.objects.get(pk=phone.pk).number == phone.number and AuditEntry.objects.count() == 1


@pytest.mark.django_db
def test_number_is_marked_required_and_focused(crm_client):
    page = crm_client.get(ADD_URL)
    form = page.context["adminform"].form
    assert form.fields["number"].required is True
    html = page.content.decode()
    (label,) = re.findall(r'<label[^>]*for="id_number"[^>]*>(.*?)</label>', html, re.DOTALL)
    assert label.strip().startswith("Number") and label.count(">*</span>") == 1  # the required marker
    (number_input,) = re.findall(r'<input[^>]*name="number"[^>]*>', html)
    assert " autofocus" in number_input and f'data-preview-url="{preview_url()}"' in number_input
    assert "/static/phones/number_preview.js" in html


# --- inactivation: confirmed, then told once -----------------------------------------------------
@pytest.mark.django_db
def test_unticking_active_asks_for_a_confirmation_and_saves_nothing_without_it(crm_client, crm):
    from phones.admin_forms import CONFIRM_INACTIVATION

    phone = PhoneFactory(actor=crm)
    response = crm_client.post(reverse("admin:phones_phone_change", args=[phone.pk]), edit_form(phone, active=""))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"confirm_inactivation": [CONFIRM_INACTIVATION]}
    assert Phone.objects.get(pk=phone.pk).active is True and AuditEntry.objects.count() == 1


@pytest.mark.django_db
def test_the_confirmation_shows_only_while_active_is_unticked(crm_client, crm):
    phone = PhoneFactory(actor=crm)
    page = crm_client.get(reverse("admin:phones_phone_change", args=[phone.pk]))
    html = page.content.decode()
    assert 'name="confirm_inactivation"' in html and 'x-show="active == false"' in html
    # A new phone starts active: nothing to confirm, no version yet.
    add = crm_client.get(ADD_URL).context["adminform"].form
    assert "confirm_inactivation" not in add.fields and "version" not in add.fields


@pytest.mark.django_db
def test_a_confirmed_inactivation_says_so_once_on_the_list(crm_client, crm):
    phone = PhoneFactory(actor=crm, number="91234-5678")
    response = crm_client.post(
        reverse("admin:phones_phone_change", args=[phone.pk]),
        edit_form(phone, active="", confirm_inactivation="on", _continue="Save and continue editing"),
    )
    assert response.status_code == 302 and response.url == LIST_URL
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "The phone +55 11 91234-5678 was inactivated: it can no longer be changed; its history stays available."
    ]
    assert Phone.objects.get(pk=phone.pk).active is False
    assert AuditEntry.objects.filter(phone_id=phone.pk).latest("id").changes == {"active": [True, False]}


@pytest.mark.django_db
def test_an_ordinary_save_keeps_djangos_message(crm_client, crm):
    phone = PhoneFactory(actor=crm)
    response = crm_client.post(reverse("admin:phones_phone_change", args=[phone.pk]), edit_form(phone, extension="5"))
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "was changed successfully" in message


# --- the live preview -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "level", "e164", "message"),
    [
        (("91234-5678", "11", "55", "MOBILE"), "ok", "+5511912345678", "Valid BR mobile number."),
        (("3333-4444", "11", "55", "RESIDENTIAL"), "ok", "+551133334444", "Valid BR fixed line number."),
        (
            ("3333-4444", "11", "55", "MOBILE"),
            "warning",
            "+551133334444",
            "Valid BR fixed line number. The type says Mobile.",
        ),
        (("(202) 555-0123", "", "1", ""), "ok", "+12025550123", "Valid US fixed line or mobile number."),
        (("9123-4567", "11", "55", ""), "warning", "+55119123" + "4567", None),
        (("11", "", "55", ""), "error", None, None),
        (("12ab", "11", "55", ""), "error", None, "Number: Only digits, spaces and ( ) . - are allowed."),
        (("91234-5678", "x", "55", ""), "error", None, "Area code: Enter a whole number."),
        (("91234-5678", "11", "", ""), "error", None, "Give the country code to see the E.164 form."),
        (("", "11", "55", ""), "empty", None, "Type the number to see its E.164 form."),
        (("9" * 65, "11", "55", ""), "error", None, "Too long to be a phone number."),
    ],
)
def test_the_hint_says_what_libphonenumber_finds(values, level, e164, message):
    number, area_code, country_code, phone_type = values
    hint = number_hint(number=number, area_code=area_code, country_code=country_code, phone_type=phone_type)
    assert (hint["level"], hint["e164"]) == (level, e164), hint
    if message is not None:
        assert hint["message"] == message


@pytest.mark.django_db
def test_the_preview_endpoint_answers_json_to_operators_who_type_numbers(crm_client):
    response = crm_client.get(preview_url(), {"number": "91234-5678", "area_code": "11", "country_code": "55"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {
        "level": "ok",
        "message": "Valid BR mobile number.",
        "e164": "+5511912345678",
        "formatted": "+55 11 91234-5678",
    }
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_the_preview_endpoint_is_closed_to_others(client, make_operator):
    assert client.get(preview_url(), {"number": "1"}).status_code == 302  # to the sign-in page
    client.force_login(make_operator("treasury-operator"))  # views phones, types none
    response = client.get(preview_url(), {"number": "1"})
    assert response.status_code == 403 and set(response.json()) == {"message"}
