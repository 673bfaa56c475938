from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.integrity import audit_verify
from audit.models import AuditEntry, AuditImmutableError, Origin
from audit.services import AuditContext
from audit.tests.tamper import CHAINLESS, tamper, wipe_trail
from backoffice.actor import Actor
from phones.services import phone_update
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(make_operator):
    operator = make_operator("crm-operator")
    phone = PhoneFactory(actor=operator, account_id=9)
    for ext in ("1", "2"):
        phone_update(
            actor=Actor.of(operator),
            context=AuditContext(origin=Origin.API),
            account_id=9,
            phone_id=phone.pk,
            data={"extension": ext},
        )
    return phone


def test_model_and_queryset_refuse_changes(history):
    entry = AuditEntry.objects.filter(phone=history).first()
    entry.origin = "CRM"
    with pytest.raises(AuditImmutableError):
        entry.save()
    with pytest.raises(AuditImmutableError):
        entry.delete()
    with pytest.raises(AuditImmutableError):
        AuditEntry.objects.filter(phone=history).update(origin="CRM")
    with pytest.raises(AuditImmutableError):
        AuditEntry.objects.filter(phone=history).delete()
    assert AuditEntry.objects.filter(phone=history, origin="CRM").count() == 0


@pytest.mark.postgres
@pytest.mark.parametrize("sql", ["UPDATE audit_auditentry SET origin = 'CRM'", "DELETE FROM audit_auditentry"])
def test_postgres_trigger_refuses_raw_sql(history, sql):
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEntry.objects.filter(phone=history).count() == 3


@pytest.mark.postgres
@pytest.mark.parametrize("sql", ["TRUNCATE audit_auditentry", "TRUNCATE phones_phone CASCADE"])
def test_postgres_trigger_refuses_truncate(history, sql):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else pending FK checks refuse it first
    with (
        pytest.raises(Exception, match=r"append-only \(TRUNCATE refused\)"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEntry.objects.filter(phone=history).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_suites_flush_empties_the_trail_and_truncate_stays_refused(make_operator):
    # Every transactional test ends with this flush (one TRUNCATE of all tables): conftest.py
    # lets it past the guard for its own transaction only.
    PhoneFactory(actor=make_operator("crm-operator"))
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEntry.objects.exists()
    with pytest.raises(Exception, match="TRUNCATE refused"), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditentry")


def test_intact_trail_verifies(history):
    assert list(audit_verify()) == []
    call_command("audit_verify")


def test_edited_entry_is_detected(history):
    entry = AuditEntry.objects.filter(phone=history).order_by("id")[1]
    tamper("UPDATE audit_auditentry SET operator_email = %s WHERE id = %s", ["someone@else.example", entry.pk])
    problems = list(audit_verify())
    assert [(p.entry_id, p.problem.split(":")[0]) for p in problems] == [(entry.pk, "hash mismatch")]
    with pytest.raises(CommandError):
        call_command("audit_verify")


def test_removed_middle_entry_is_detected(history):
    middle = AuditEntry.objects.filter(phone=history).order_by("id")[1]
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [middle.pk])
    assert any(p.problem.startswith("chain broken") for p in audit_verify())


def test_removed_latest_entry_is_detected(history):
    latest = AuditEntry.objects.filter(phone=history).order_by("-id").first()
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [latest.pk])
    assert [p.problem for p in audit_verify()] == [
        "the phone differs from its latest audited state",
        "the phone's chain head is not its latest entry",
    ]


def test_wiped_trail_is_detected(history, make_operator):
    other = PhoneFactory(actor=make_operator("crm-operator"), account_id=10)
    wipe_trail()
    problems = sorted((p.phone_id, p.entry_id, p.problem) for p in audit_verify())
    assert problems == sorted([(history.pk, None, CHAINLESS), (other.pk, None, CHAINLESS)])
    with pytest.raises(CommandError, match="2 integrity problem"):
        call_command("audit_verify")


def test_phone_whose_every_entry_was_removed_is_detected(history, make_operator):
    other = PhoneFactory(actor=make_operator("crm-operator"), account_id=10)
    assert type(history).objects.get(pk=history.pk).audit_head  # it names an entry about to go
    tamper("DELETE FROM audit_auditentry WHERE phone_id = %s", [history.pk])
    assert [(p.phone_id, p.problem) for p in audit_verify()] == [(history.pk, CHAINLESS)]
    assert [(p.phone_id, p.problem) for p in audit_verify(phone_ids=[history.pk])] == [(history.pk, CHAINLESS)]
    assert list(audit_verify(phone_ids=[other.pk])) == []


def test_new_phone_whose_creation_entry_was_removed_is_detected(make_operator):
    phone = PhoneFactory(actor=make_operator("crm-operator"), account_id=10)
    assert phone.audit_head == ""  # only its creation entry: the head is not written
    tamper("DELETE FROM audit_auditentry WHERE phone_id = %s", [phone.pk])
    assert [(p.phone_id, p.problem) for p in audit_verify()] == [(phone.pk, CHAINLESS)]


def test_entry_without_phone_must_hold_its_own_hash(history):
    # A real entry copied without its phone (to make up a count, say) lands in the access chain
    # (entries about no phone): its hash is wrong, and the chain's recorded head is not it.
    entry = AuditEntry.objects.filter(phone=history).order_by("id").first()
    fields = {f.attname: getattr(entry, f.attname) for f in AuditEntry._meta.concrete_fields if not f.primary_key}
    copy = AuditEntry.objects.create(**{**fields, "phone_id": None})
    assert [(p.phone_id, p.entry_id, p.problem) for p in audit_verify()] == [
        (None, copy.pk, "hash mismatch: the entry was altered or forged"),
        (None, None, "the access chain's head is not its latest entry: entries were removed"),
    ]
