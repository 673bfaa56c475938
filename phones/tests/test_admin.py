from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from audit.models import AuditEntry, AuditEvent, Origin
from phones.models import Phone
from phones.tests.factories import PhoneFactory
from phones.versions import phone_version

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:phones_phone_add")
LIST_URL = reverse("admin:phones_phone_changelist")


def change_url(phone):
    return reverse("admin:phones_phone_change", args=[phone.pk])


@pytest.fixture
def crm(make_operator):
    return make_operator("crm-operator", email="jane.doe@bank.example")


@pytest.fixture
def crm_client(client, crm):
    client.force_login(crm)
    return client


def add_form(**overrides):
    return {
        "account_id": "32422",
        "customer_id": "42422",
        "number": "91234-5678",
        "type": "MOBILE",
        "area_code": "11",
        "country_code": "55",
        "extension": "",
        **overrides,
    }


def edit_form(phone, **overrides):
    return {
        # The version the form was read at: the phone as stored now.
        "version": phone_version(Phone.objects.get(pk=phone.pk)),
        "number": phone.number,
        "type": phone.type,
        "area_code": "" if phone.area_code is None else str(phone.area_code),
        "country_code": str(phone.country_code),
        "extension": phone.extension or "",
        "active": "on" if phone.active else "",
        **overrides,
    }


def test_create_goes_through_the_service_and_is_audited_as_crm(crm_client, crm):
    response = crm_client.post(ADD_URL, add_form(), HTTP_X_REQUEST_ID="req-admin-1")
    assert response.status_code == 302, response.content.decode()[:2000]
    phone = Phone.objects.get()
    assert (phone.account_id, phone.customer_id, phone.e164) == (32422, 42422, "+5511912345678")
    entry = AuditEntry.objects.get(phone=phone)
    assert entry.event == AuditEvent.PHONE_CREATION
    assert entry.origin == Origin.CRM
    assert entry.payload["origin"] == "CRM"
    assert (entry.payload["method"], entry.payload["uri"]) == ("POST", "/v1/accounts/:accountId/phones")
    assert (entry.payload["email"], entry.payload["roles"]) == ("jane.doe@bank.example", ["crm-operator"])
    assert (entry.operator_id, entry.request_id) == (crm.pk, "req-admin-1")
    # The validation run left no trace: one phone, one entry, and no Django LogEntry.
    assert AuditEntry.objects.count() == 1
    assert not LogEntry.objects.exists()


def test_duplicate_is_rejected_with_the_contract_message_and_a_link_to_the_phone_that_has_it(crm_client, crm):
    holder = PhoneFactory(actor=crm, account_id=32422, number="912345678", area_code=11)
    response = crm_client.post(ADD_URL, add_form(number="9.1234.5678"))
    assert response.status_code == 200
    (error,) = response.context["adminform"].form.errors["number"]
    assert error.startswith("Phone number already exists")
    assert f'<a href="/admin/phones/phone/{holder.pk}/change/">+5511912345678</a>' in response.content.decode()
    assert Phone.objects.count() == 1 and AuditEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"number": "12ab"}, "number", "Only digits, spaces and ( ) . - are allowed."),
        ({"number": ""}, "number", "This field may not be blank."),
        ({"number": "1" * 16}, "number", "Ensure this field has no more than 15 characters."),
        ({"country_code": "100000"}, "country_code", "Ensure this value is between 0 and 99999."),
        ({"extension": "x" * 11}, "extension", "Ensure this field has no more than 10 characters."),
        ({"account_id": "0"}, "account_id", "Ensure this value is between 1 and 9223372036854775807."),
    ],
)
def test_field_errors_are_the_services_own(crm_client, overrides, field, message):
    response = crm_client.post(ADD_URL, add_form(**overrides))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert not Phone.objects.exists() and not AuditEntry.objects.exists()


def test_edit_records_a_change_entry_with_old_and_new(crm_client, crm):
    phone = PhoneFactory(actor=crm, number="91234-5678")
    response = crm_client.post(change_url(phone), edit_form(phone, number="98888-7777", extension="12"))
    assert response.status_code == 302
    phone.refresh_from_db()
    assert phone.number == "98888-7777" and phone.extension == "12"
    entry = AuditEntry.objects.filter(phone=phone).latest("id")
    assert entry.event == AuditEvent.PHONE_CHANGE and entry.origin == Origin.CRM
    assert entry.payload["method"] == "PATCH"
    assert entry.changes == {"number": ["91234-5678", "98888-7777"], "extension": [None, "12"]}
    assert AuditEntry.objects.filter(phone=phone).count() == 2


def test_edit_into_a_duplicate_is_an_error_on_the_number(crm_client, crm):
    holder = PhoneFactory(actor=crm, account_id=5, number="91111-1111")
    other = PhoneFactory(actor=crm, account_id=5, number="92222-2222")
    response = crm_client.post(change_url(other), edit_form(other, number="911111111"))
    assert response.status_code == 200
    (error,) = response.context["adminform"].form.errors["number"]
    assert error.startswith("Phone number already exists") and change_url(holder) in error
    other.refresh_from_db()
    assert other.number == "92222-2222"


def test_unticking_active_inactivates_and_the_page_turns_read_only(crm_client, crm):
    phone = PhoneFactory(actor=crm)
    response = crm_client.post(change_url(phone), edit_form(phone, active="", confirm_inactivation="on"))
    assert response.status_code == 302
    phone.refresh_from_db()
    assert phone.active is False
    page = crm_client.get(change_url(phone))
    html = page.content.decode()
    assert page.context["has_change_permission"] is False
    assert "Can&#x27;t update an inactive phone number" in html or "Can't update an inactive phone number" in html
    assert 'name="_save"' not in html and 'name="number"' not in html
    # A POST anyway gets the API's 422 rule and text, and changes nothing.
    response = crm_client.post(change_url(phone), edit_form(phone, number="90000-0000"), follow=True)
    assert "Can&#x27;t update an inactive phone number" in response.content.decode()
    phone.refresh_from_db()
    assert phone.number != "90000-0000"
    assert AuditEntry.objects.filter(phone=phone).count() == 2


def test_bulk_inactivate_confirms_then_audits_each_phone(crm_client, crm):
    phones = [PhoneFactory(actor=crm) for _ in range(3)]
    already = PhoneFactory(actor=crm, active=False)
    ids = [str(p.pk) for p in [*phones, already]]
    confirm = crm_client.post(LIST_URL, {"action": "inactivate_selected", "_selected_action": ids})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Inactivate 4 phones?" in html and "already inactive" in html
    assert Phone.objects.filter(active=True).count() == 3  # nothing happens before confirming
    done = crm_client.post(
        LIST_URL, {"action": "inactivate_selected", "_selected_action": ids, "confirm": "yes"}, follow=True
    )
    text = done.content.decode()
    assert "Inactivated 3 phones." in text and "1 phone was already inactive" in text
    assert not Phone.objects.filter(active=True).exists()
    for phone in phones:
        entry = AuditEntry.objects.filter(phone=phone).latest("id")
        assert entry.changes == {"active": [True, False]} and entry.origin == Origin.CRM


def test_export_streams_the_filtered_list(crm_client, crm):
    PhoneFactory(actor=crm, account_id=77, number="91234-0001")
    PhoneFactory(actor=crm, account_id=78, number="91234-0002", extension="-x+1")
    response = crm_client.get(reverse("admin:phones_phone_export") + "?account=77")
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["id", "account_id", "customer_id", "number", "formatted", "e164"]
    assert [row[1] for row in rows[1:]] == ["77"]
    # Formula-neutralised like every cell starting with + (tests/test_export_formulas.py).
    assert rows[1][4] == "'+55 11 91234-0001" and rows[1][5] == "'+551191234" + "0001"
    everything = crm_client.get(reverse("admin:phones_phone_export"))
    rows = list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))
    assert len(rows) == 3
    # A cell that a spreadsheet would run as a formula is neutralised.
    assert "'-x+1" in [row[9] for row in rows]


def test_export_action_on_selected_rows(crm_client, crm):
    first, second = PhoneFactory(actor=crm), PhoneFactory(actor=crm)
    response = crm_client.post(LIST_URL, {"action": "export_selected_csv", "_selected_action": [str(second.pk)]})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == [str(second.pk)]
    assert str(first.pk) not in {row[0] for row in rows[1:]}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("1234-56", {"a"}),
        ("123456", {"a"}),
        ("+55 11 91234", {"a"}),
        ("5511987", {"b"}),
        ("555001", {"a", "b"}),  # account id (a) and customer id (b), exactly
        ("91234 5678 9999", set()),
        ("abc", set()),
    ],
)
def test_search_by_any_part_of_the_number_or_ids(crm_client, crm, term, expected):
    phones = {
        "a": PhoneFactory(actor=crm, account_id=555001, number="91234-5678"),
        "b": PhoneFactory(actor=crm, account_id=9, customer_id=555001, number="98765-4321"),
    }
    response = crm_client.get(LIST_URL, {"q": term})
    found = {key for key, phone in phones.items() if phone in response.context["cl"].result_list}
    assert found == expected


def test_filters_type_active_country_and_account(crm_client, crm):
    mobile = PhoneFactory(actor=crm, account_id=1, type="MOBILE", country_code=55)
    home = PhoneFactory(actor=crm, account_id=2, type="RESIDENTIAL", country_code=1, area_code=202)
    cases = {
        "type__exact=RESIDENTIAL": [home],
        "active__exact=1": [home, mobile],
        "country_code=1": [home],
        "account=1": [mobile],
        "account=abc": [home, mobile],  # not a number: ignored, with a message
    }
    for query, expected in cases.items():
        response = crm_client.get(f"{LIST_URL}?{query}")
        assert list(response.context["cl"].result_list) == expected, query
    assert "Ignored the filter “account”" in response.content.decode()


def test_list_columns_and_account_page_with_history(crm_client, crm):
    phone = PhoneFactory(actor=crm, account_id=4242, number="91234-5678", customer_id=7)
    PhoneFactory(actor=crm, account_id=4242, number="93333-4444", active=False)
    html = crm_client.get(LIST_URL).content.decode()
    for text in ("+55 11 91234-5678", "+5511912345678", "4242", "Mobile"):
        assert text in html
    account = crm_client.get(reverse("admin:phones_phone_account", args=[4242]))
    page = account.content.decode()
    assert "Phones of account 4242" in page
    assert "+55 11 91234-5678" in page and "+55 11 93333-4444" in page and "Inactive" in page
    assert len(account.context["entries"]) == 2
    # Each phone's page shows its history and links to the full trail.
    detail = crm_client.get(change_url(phone))
    assert [e.event for e in detail.context["phone_history"]] == ["phone_creation"]
    assert f"?phone={phone.pk}" in detail.content.decode()


def test_history_button_opens_the_audit_trail(crm_client, crm):
    phone = PhoneFactory(actor=crm)
    response = crm_client.get(reverse("admin:phones_phone_history", args=[phone.pk]))
    assert response.status_code == 302
    assert response.url == reverse("admin:audit_auditentry_changelist") + f"?phone={phone.pk}"


def test_the_list_keeps_a_number_on_one_line_and_an_account_without_visible_history_says_so(crm_client, crm):
    """Seen in the crawler's screenshots: the Portuguese list broke "+55 11 91232-" / "5678" over
    two lines, and an account page whose entries the role may not see showed unfold's "No data"
    (the phone page says "No audit entries you may see.")."""
    PhoneFactory(actor=crm, account_id=4242, number="91234-5678")
    html = crm_client.get(LIST_URL).content.decode()
    assert '<span class="whitespace-nowrap">+55 11 91234-5678</span>' in html
    empty = crm_client.get(reverse("admin:phones_phone_account", args=[999999]))
    assert empty.context["entries"] == []
    assert re.search(r'id="account-history-empty"[^>]*>\s*No audit entries you may see\.', empty.content.decode())
