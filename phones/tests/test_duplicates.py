"""The duplicate rule is decided on the E.164 (what the provider and the customer see), by the
database's unique index; a number is typed in ASCII digits, spaces and ( ) . - only; a number
libphonenumber finds impossible gets no E.164 and cannot be linked."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection

from audit.models import AuditEntry
from phones.models import Phone, ProviderLink

pytestmark = pytest.mark.django_db

PHONES = "/accounts/v1/accounts/{account}/phones"


def _post(client, account, **body):
    return client.post(PHONES.format(account=account), {"type": "MOBILE", **body}, format="json")


def _nothing_written(account, before_entries):
    assert Phone.objects.filter(account_id=account).count() == 1
    assert AuditEntry.objects.count() == before_entries


@pytest.mark.parametrize(
    "spelling",
    [
        {"number": "11 91234-5678"},  # the area code inside the number
        {"number": "011 91234-5678"},  # after a trunk "0"
        {"number": "(11) 91234-5678"},
        {"number": "9.1234.5678", "area_code": 11},
    ],
)
def test_one_number_spelt_another_way_is_a_duplicate(api_client_for, make_operator, spelling):
    client = api_client_for(make_operator("backoffice-operator"))
    first = _post(client, 31, number="91234-5678", area_code=11)
    assert first.status_code == 200, first.json()
    entries = AuditEntry.objects.count()
    again = _post(client, 31, **spelling)
    assert (again.status_code, again.json()) == (409, {"message": "Phone number already exists"})
    _nothing_written(31, entries)
    # Inactive phones and other accounts do not count.
    assert _post(client, 32, **spelling).status_code == 200


def test_a_change_into_another_spelling_of_an_active_number_is_a_duplicate(api_client_for, make_operator):
    client = api_client_for(make_operator("backoffice-operator"))
    _post(client, 33, number="91234-5678", area_code=11)
    other = _post(client, 33, number="3333-4444").json()  # no area code: the number carries it
    entries = AuditEntry.objects.count()
    answer = client.patch(f"{PHONES.format(account=33)}/{other['id']}", {"number": "011 9.1234.5678"}, format="json")
    assert answer.status_code == 409
    assert Phone.objects.get(pk=other["id"]).number == "3333-4444" and AuditEntry.objects.count() == entries


@pytest.mark.parametrize(
    "bad",
    [
        "9123\u00a04567",
        "9123\u20284567",
        "9123\u30004567",
        "9123\x1c4567",
        "9123\x0b4567",
        "91234567\n",
        "\u00a091234567",
        "91234567\t",
        "\uff19\uff11\uff12\uff13",
    ],
)
def test_number_is_ascii_digits_spaces_and_punctuation_only(api_client_for, make_operator, bad):
    client = api_client_for(make_operator("backoffice-operator"))
    entries = AuditEntry.objects.count()
    answer = _post(client, 34, number=bad, area_code=11)
    assert answer.status_code == 400 and answer.json()["field"] == "number", answer.json()
    assert not Phone.objects.filter(account_id=34).exists() and AuditEntry.objects.count() == entries


def test_spaces_around_a_number_are_dropped(api_client_for, make_operator):
    client = api_client_for(make_operator("backoffice-operator"))
    answer = _post(client, 35, number="  91234-5678 ", area_code=11)
    assert answer.status_code == 200 and Phone.objects.get(account_id=35).number == "91234-5678"


def test_an_impossible_number_gets_no_e164_and_cannot_be_linked(api_client_for, make_operator):
    client = api_client_for(make_operator("backoffice-operator"))
    created = _post(client, 36, number="11")
    assert created.status_code == 200
    phone = Phone.objects.get(pk=created.json()["id"])
    assert phone.e164 is None  # it was "+5511"
    answer = client.put(
        f"{PHONES.format(account=36)}/{phone.pk}/provider-link", {"provider": "plivo", "settings": {}}, format="json"
    )
    assert answer.status_code == 400 and "impossible for its country" in answer.json()["message"], answer.json()
    assert not ProviderLink.objects.filter(phone=phone).exists()


@pytest.mark.postgres
def test_the_migration_reports_phones_that_now_collide_and_changes_no_number(make_operator):
    """Before the new index exists (dropped here, in the test's transaction), two active phones of
    one account hold one E.164 under two spellings: the migration lists them and stops."""
    from phones.tests.factories import PhoneFactory

    migration = importlib.import_module("phones.migrations.0009_duplicates_by_e164")
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX phone_unique_active_e164_per_account")
    first = PhoneFactory(account_id=37, number="91234-5678", area_code=11)
    second = PhoneFactory(account_id=37, number="3333-4444", area_code=21)
    # Stored by the old rule: the same number, another spelling, the old E.164 form.
    Phone.objects.filter(pk=second.pk).update(number="011 91234-5678", area_code=None, e164="+5501191234")
    with pytest.raises(RuntimeError) as report:
        migration.derive_e164_and_report_duplicates(django_apps, None)
    assert f"account 37 +5511912345678: phones {first.pk}, {second.pk}" in str(report.value)
    assert Phone.objects.get(pk=second.pk).number == "011 91234-5678"  # what the operator typed stays
