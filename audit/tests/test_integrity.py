from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.integrity import audit_verify
from audit.models import AuditEntry, AuditImmutableError, Origin
from audit.services import AuditContext
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


def test_intact_trail_verifies(history):
    assert list(audit_verify()) == []
    call_command("audit_verify")


def _tamper(sql, params):
    # Only a database owner can do this, by switching the trigger off: what an attacker would do.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks may block ALTER
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")


def test_edited_entry_is_detected(history):
    entry = AuditEntry.objects.filter(phone=history).order_by("id")[1]
    _tamper("UPDATE audit_auditentry SET operator_email = %s WHERE id = %s", ["someone@else.example", entry.pk])
    problems = list(audit_verify())
    assert [(p.entry_id, p.problem.split(":")[0]) for p in problems] == [(entry.pk, "hash mismatch")]
    with pytest.raises(CommandError):
        call_command("audit_verify")


def test_removed_middle_entry_is_detected(history):
    middle = AuditEntry.objects.filter(phone=history).order_by("id")[1]
    _tamper("DELETE FROM audit_auditentry WHERE id = %s", [middle.pk])
    assert any(p.problem.startswith("chain broken") for p in audit_verify())


def test_removed_latest_entry_is_detected(history):
    latest = AuditEntry.objects.filter(phone=history).order_by("-id").first()
    _tamper("DELETE FROM audit_auditentry WHERE id = %s", [latest.pk])
    assert [p.problem for p in audit_verify()] == [
        "the phone differs from its latest audited state",
        "the phone's chain head is not its latest entry",
    ]
