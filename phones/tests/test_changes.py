"""The unit of work: the only writer of phones, links, jobs and audit entries.

Its statement counts are part of its contract (the API's write path is tuned around them): a
create is one statement on PostgreSQL, a change one locking SELECT and one write, a batch's
record one INSERT of entries and one UPDATE of heads whatever the batch's size.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from audit.integrity import audit_verify
from audit.models import AuditEntry, AuditEvent, Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from phones.changes import UnitOfWork, changes, create_phone
from phones.errors import PhoneAlreadyExists, PhoneChangedMeanwhile, PhoneNotFound
from phones.models import Phone
from phones.objects import changed_values, phone_object
from phones.versions import phone_version

pytestmark = pytest.mark.django_db
CTX = AuditContext(origin=Origin.COMMAND, request_id="uow")
POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def actor(make_operator):
    return Actor.of(make_operator("crm-operator", email="uow@bank.example"))


def statements(queries) -> list[str]:
    # The test's own transaction adds savepoints that a real request does not run.
    return [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def new_phone(actor, account_id=77, number="91234-5678") -> Phone:
    phone = Phone(account_id=account_id, number=number, type="MOBILE", area_code=11)
    phone.derive()
    obj = phone_object(phone)
    return create_phone(
        phone,
        actor=actor,
        event=AuditEvent.PHONE_CREATION,
        context=CTX,
        obj=obj,
        changes={key: [None, value] for key, value in obj.items() if key != "account_id"},
    )


def change(work: UnitOfWork, phone: Phone, actor, **values) -> None:
    before = phone_object(phone)
    work.set(phone, values)
    after = phone_object(phone)
    work.record(
        phone, actor=actor, event=AuditEvent.PHONE_CHANGE, context=CTX, obj=after, changes=changed_values(before, after)
    )


def test_create_is_one_statement_on_postgresql(actor):
    from backoffice import db_writes

    db_writes._ID_BLOCKS.clear()
    new_phone(actor, number="0000")  # takes a block of ids
    with CaptureQueriesContext(connection) as queries:
        phone = new_phone(actor)
    # PostgreSQL: the phone and its entry in one INSERT statement (its id from the block);
    # elsewhere the insert assigns the id and the entry follows.
    assert len(statements(queries)) == (1 if POSTGRES else 2), statements(queries)
    entry = AuditEntry.objects.get(phone=phone)
    assert entry.event == AuditEvent.PHONE_CREATION and entry.prev_hash == "" and entry.operator_email == actor.email
    # The chain-head convention: a phone never changed keeps an empty head.
    assert Phone.objects.get(pk=phone.pk).audit_head == ""


def test_a_change_is_a_lock_and_one_write(actor):
    phone = new_phone(actor)
    for extension in ("1", "2"):  # the first change reads the creation entry's hash with the lock
        with CaptureQueriesContext(connection) as queries, changes() as work:
            locked = work.lock_phone(account_id=77, phone_id=phone.pk)
            change(work, locked, actor, extension=extension)
        # the locking SELECT, then the UPDATE and the entry's INSERT: one statement on PostgreSQL
        assert len(statements(queries)) == (2 if POSTGRES else 3), statements(queries)
    stored = Phone.objects.get(pk=phone.pk)
    entries = list(AuditEntry.objects.filter(phone=phone).order_by("id"))
    assert stored.extension == "2" and stored.audit_head == entries[-1].hash
    assert [e.prev_hash for e in entries] == ["", entries[0].hash, entries[1].hash]
    assert entries[-1].changes == {"extension": ["1", "2"]}
    assert list(audit_verify(phone_ids=[phone.pk])) == []


def test_the_version_is_compared_under_the_lock_at_no_extra_statement(actor):
    phone = new_phone(actor)
    read = phone_version(Phone.objects.get(pk=phone.pk))
    with CaptureQueriesContext(connection) as queries, changes() as work:
        locked = work.lock_phone(account_id=77, phone_id=phone.pk, expected_version=read)
        change(work, locked, actor, extension="1")
    assert len(statements(queries)) == (2 if POSTGRES else 3), statements(queries)
    # The version read before that change is stale now: the lock refuses it, nothing is set.
    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(PhoneChangedMeanwhile) as caught,
        changes() as work,
    ):
        work.lock_phone(account_id=77, phone_id=phone.pk, expected_version=read)
    ran = [sql for sql in statements(queries) if not sql.startswith("ROLLBACK")]  # the test's savepoint
    assert len(ran) == 1, ran  # the lock; nothing written
    stored = Phone.objects.get(pk=phone.pk)
    assert caught.value.current_version == phone_version(stored) != read
    assert stored.extension == "1" and AuditEntry.objects.filter(phone=phone).count() == 2


def test_a_batch_is_one_lock_and_one_write_whatever_its_size(actor):
    counts = []
    for size in (1, 4):
        phones = [new_phone(actor, account_id=100 + size, number=f"9000{n}-0000") for n in range(size)]
        with CaptureQueriesContext(connection) as queries, changes() as work:
            locked = work.lock_phones(p.pk for p in phones)
            for phone in locked.values():
                work.record(phone, actor=actor, event=AuditEvent.PHONE_SYNC_SUCCEEDED, context=CTX, obj={}, changes={})
        counts.append(len(statements(queries)))
        for phone in phones:
            head = AuditEntry.objects.filter(phone=phone).order_by("-id").first()
            assert Phone.objects.get(pk=phone.pk).audit_head == head.hash and head.prev_hash
    # One phone: the lock, then its entry and head in one statement. A batch: the lock of the
    # phones, then every entry and head in one statement, whatever its size (SQLite: one phone's
    # two writes are two statements, a batch's an INSERT of the entries and an UPDATE per head).
    assert counts == ([2, 2] if connection.vendor == "postgresql" else [3, 6]), counts


def test_nothing_changed_writes_nothing(actor):
    phone = new_phone(actor)
    with CaptureQueriesContext(connection) as queries, changes() as work:
        locked = work.lock_phone(account_id=77, phone_id=phone.pk)
        assert work.set(locked, {"extension": None, "number": "91234-5678"}) == []
    assert len(statements(queries)) == 1  # the lock
    assert AuditEntry.objects.filter(phone=phone).count() == 1


def test_a_duplicate_found_at_the_flush_writes_nothing(actor):
    new_phone(actor)
    other = new_phone(actor, number="1111-2222")
    with pytest.raises(PhoneAlreadyExists), changes() as work:
        locked = work.lock_phone(account_id=77, phone_id=other.pk)
        change(work, locked, actor, number="91234-5678")
    assert Phone.objects.get(pk=other.pk).number == "1111-2222"
    assert AuditEntry.objects.filter(phone=other).count() == 1


def test_a_duplicate_create_raises_and_leaves_the_callers_transaction_usable(actor):
    new_phone(actor)
    with transaction.atomic():
        with pytest.raises(PhoneAlreadyExists):
            new_phone(actor)
        assert Phone.objects.filter(account_id=77).count() == 1  # the transaction still works


def test_locks_need_the_unit_of_works_transaction_and_find_only_the_accounts_phone(actor):
    phone = new_phone(actor)
    with pytest.raises(PhoneNotFound), changes() as work:
        work.lock_phone(account_id=78, phone_id=phone.pk)
    with pytest.raises(ValueError), changes() as work:
        work.lock(Phone.objects.filter(pk=phone.pk))  # not a select_for_update() query


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_lock_outside_a_transaction_is_refused(make_operator):
    actor = Actor.of(make_operator("crm-operator"))
    phone = new_phone(actor)
    with pytest.raises(TransactionManagementError):
        UnitOfWork().lock_phone(account_id=77, phone_id=phone.pk)
