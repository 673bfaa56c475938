from __future__ import annotations

import pytest

from audit.models import AuditEntry, AuditEvent, Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from phones.errors import OperatorNotAllowed, PhoneAlreadyExists, PhoneInactive, PhoneNotFound, PhoneValidationError
from phones.models import Phone
from phones.services import phone_create, phone_inactivate, phone_update

pytestmark = pytest.mark.django_db
CTX = AuditContext(origin=Origin.API, request_id="req-1", ip_address="10.0.0.9")


@pytest.fixture
def crm(make_operator):
    return make_operator("crm-operator", email="jane.doe@bank.example")


def create(actor, **overrides):
    values = {"account_id": 32422, "number": "91234-5678", "type": "MOBILE", "area_code": 11, **overrides}
    return phone_create(actor=Actor.of(actor), context=CTX, **values)


def latest_entry(phone):
    return AuditEntry.objects.filter(phone=phone).order_by("-id").first()


def test_create_stores_phone_derives_e164_and_audits(crm, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        phone = create(crm, customer_id=42422, extension="ext 9")
    phone.refresh_from_db()
    assert phone.number_digits == "912345678"
    assert phone.e164 == "+5511912345678"
    assert phone.active is True and phone.country_code == 55
    entry = latest_entry(phone)
    assert entry.event == AuditEvent.PHONE_CREATION
    assert entry.payload == {
        "method": "POST",
        "uri": "/v1/accounts/:accountId/phones",
        "email": "jane.doe@bank.example",
        "roles": ["crm-operator"],
        "origin": "API",
        "object": {
            "account_id": 32422,
            "customer_id": 42422,
            "area_code": "11",
            "number": "91234-5678",
            "type": "MOBILE",
            "extension": "ext 9",
            "active": True,
            "country_code": "55",
        },
    }
    assert entry.changes["number"] == [None, "91234-5678"]
    assert (entry.operator_id, entry.operator_email, entry.operator_roles) == (crm.pk, crm.email, ["crm-operator"])
    assert (entry.request_id, entry.ip_address, entry.account_id) == ("req-1", "10.0.0.9", 32422)
    assert entry.prev_hash == "" and len(entry.hash) == 64


def test_duplicate_compares_digits_only_among_active_phones(crm):
    first = create(crm)
    with pytest.raises(PhoneAlreadyExists):
        create(crm, number="912345678")
    assert AuditEntry.objects.count() == 1
    # Another account, another area code or an inactive twin do not collide.
    create(crm, account_id=1)
    create(crm, area_code=21)
    phone_inactivate(actor=Actor.of(crm), context=CTX, account_id=32422, phone_id=first.pk)
    assert create(crm, number="9.1234.5678").pk != first.pk


def test_duplicate_without_area_code_still_collides(crm):
    create(crm, area_code=None, number="2025550143", country_code=1)
    with pytest.raises(PhoneAlreadyExists):
        create(crm, area_code=None, number="202-555-0143", country_code=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number", ""),
        ("number", "abc"),
        ("number", "1234567890123456"),
        ("type", "PAGER"),
        ("area_code", -1),
        ("country_code", 100000),
        ("extension", "x" * 11),
        ("account_id", 0),
    ],
)
def test_create_rejects_bad_values_without_writing(crm, field, value):
    with pytest.raises(PhoneValidationError) as caught:
        create(crm, **{field: value})
    assert caught.value.field == field  # the domain name; the API maps it to the contract's "accountId"
    assert not Phone.objects.exists() and not AuditEntry.objects.exists()


def test_update_records_field_changes_and_chains_the_audit(crm, django_capture_on_commit_callbacks):
    phone = create(crm)
    with django_capture_on_commit_callbacks(execute=True):
        phone_update(
            actor=Actor.of(crm),
            context=CTX,
            account_id=32422,
            phone_id=phone.pk,
            data={"number": "99999-0000", "extension": "7"},
        )
    phone.refresh_from_db()
    assert (phone.number, phone.number_digits, phone.e164) == ("99999-0000", "999990000", "+5511999990000")
    first, second = AuditEntry.objects.filter(phone=phone).order_by("id")
    assert second.event == AuditEvent.PHONE_CHANGE
    assert second.payload["method"] == "PATCH" and second.payload["uri"] == "/v1/accounts/:accountId/phones/:phoneId"
    assert second.payload["object"]["number"] == "99999-0000"
    assert second.changes == {"number": ["91234-5678", "99999-0000"], "extension": [None, "7"]}
    assert second.prev_hash == first.hash


def test_update_without_change_writes_nothing(crm):
    phone = create(crm)
    before = Phone.objects.get(pk=phone.pk).updated_at
    phone_update(actor=Actor.of(crm), context=CTX, account_id=32422, phone_id=phone.pk, data={"number": "91234-5678"})
    assert AuditEntry.objects.filter(phone=phone).count() == 1
    assert Phone.objects.get(pk=phone.pk).updated_at == before


def test_update_into_a_duplicate_is_refused(crm):
    create(crm)
    other = create(crm, number="1111-2222")
    with pytest.raises(PhoneAlreadyExists):
        phone_update(
            actor=Actor.of(crm), context=CTX, account_id=32422, phone_id=other.pk, data={"number": "912345678"}
        )
    assert Phone.objects.get(pk=other.pk).number == "1111-2222"
    assert AuditEntry.objects.filter(phone=other).count() == 1


def test_inactivate_then_no_more_updates(crm):
    phone = create(crm)
    phone_inactivate(actor=Actor.of(crm), context=CTX, account_id=32422, phone_id=phone.pk)
    entry = latest_entry(phone)
    assert entry.changes == {"active": [True, False]} and entry.payload["object"]["active"] is False
    for data in ({"active": True}, {"extension": "1"}, {"active": False}):
        with pytest.raises(PhoneInactive):
            phone_update(actor=Actor.of(crm), context=CTX, account_id=32422, phone_id=phone.pk, data=data)
    assert AuditEntry.objects.filter(phone=phone).count() == 2


def test_phone_of_another_account_is_not_found(crm):
    phone = create(crm)
    with pytest.raises(PhoneNotFound):
        phone_update(actor=Actor.of(crm), context=CTX, account_id=1, phone_id=phone.pk, data={"extension": "1"})


@pytest.mark.parametrize("role", ["treasury-operator", "itinivel1-operator", "inspetoria-master"])
def test_roles_without_write_right_are_refused(make_operator, crm, role):
    reader = make_operator(role)
    with pytest.raises(OperatorNotAllowed):
        create(reader)
    phone = create(crm)
    with pytest.raises(OperatorNotAllowed):
        phone_inactivate(actor=Actor.of(reader), context=CTX, account_id=32422, phone_id=phone.pk)
    assert AuditEntry.objects.count() == 1


def test_audit_snapshot_survives_operator_deletion(crm):
    phone = create(crm)
    crm.delete()
    entry = latest_entry(phone)
    assert entry.operator_email == "jane.doe@bank.example" and entry.operator_roles == ["crm-operator"]


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_lock_phone_needs_a_transaction_and_finds_only_the_accounts_phone(crm):
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    from phones.changes import UnitOfWork

    lock_phone = UnitOfWork().lock_phone
    phone = phone_create(actor=Actor.of(crm), context=CTX, account_id=7, number="1111-2222", type="MOBILE")
    with transaction.atomic():
        assert lock_phone(account_id=7, phone_id=phone.pk).pk == phone.pk  # compiles the statement
    with pytest.raises(TransactionManagementError):
        lock_phone(account_id=7, phone_id=phone.pk)  # the reused statement still checks
    with transaction.atomic(), pytest.raises(PhoneNotFound):
        lock_phone(account_id=8, phone_id=phone.pk)
