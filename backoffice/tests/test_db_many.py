"""``backoffice.db.CompiledIdSelect`` and ``backoffice.db_writes.write_many``: a batch's locks
and writes, with the SQL built once, equal to what the ORM does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from backoffice import db_writes
from backoffice.db import ID_SLOTS, CompiledIdSelect
from backoffice.db_writes import insert_row, write_many
from backoffice.tests.test_db import _entry_for, _new_phone
from phones.models import Phone

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"


def _row(phone: Phone) -> dict:
    return {f.attname: getattr(phone, f.attname) for f in Phone._meta.concrete_fields}


def test_compiled_id_select_fetches_what_the_orm_does_for_any_number_of_ids():
    phones = [insert_row(_new_phone(account_id=300 + n, number=f"9100-{n:04d}")) for n in range(ID_SLOTS * 2 + 5)]
    ids = [phone.pk for phone in phones]
    select = CompiledIdSelect(lambda chunk: Phone.objects.filter(pk__in=chunk).order_by("pk"))
    for wanted in (ids[:1], ids[3:8], ids[:ID_SLOTS], ids[: ID_SLOTS + 1], ids, [ids[4], ids[2], ids[4]]):
        # In the order given, chunk by chunk (each chunk in id order): callers pass sorted ids.
        expected = sorted(set(wanted)) if len(wanted) <= ID_SLOTS else wanted
        rows = select.fetch(wanted)
        assert [row.pk for row in rows] == expected
        assert [_row(row) for row in rows] == [
            _row(orm) for orm in Phone.objects.filter(pk__in=expected).order_by("pk")
        ]
    assert select.fetch([10**12]) == []
    assert len(select._select._cache) == 1  # one statement, compiled once, for every length


def test_write_many_inserts_and_updates_what_bulk_create_and_save_would(make_operator):
    actor = make_operator("crm-operator")
    first, second, third = (insert_row(_new_phone(account_id=310 + n, number=f"9200-000{n}")) for n in range(3))
    before = {phone.pk: Phone.objects.get(pk=phone.pk) for phone in (first, second, third)}
    # A NULL first and a value after it in one column of one UPDATE; another set of fields in a
    # second; auto_now replaced as save() does.
    first.customer_id, second.customer_id = None, 42
    first.extension, second.extension = "11", None
    third.audit_head = "h" * 64
    for phone in (first, second):
        phone.updated_at = before[phone.pk].updated_at - timedelta(days=1)
    entries = [_entry_for(first, actor), _entry_for(first, actor), _entry_for(third, actor)]
    new = _new_phone(account_id=320, number="9200-0009")
    with transaction.atomic():
        write_many(
            inserts=[entries[0], new, entries[1], entries[2]],
            updates=[
                (first, ["customer_id", "extension", "updated_at"]),
                (third, ["audit_head"]),
                (second, ["customer_id", "extension", "updated_at"]),
            ],
        )
    for phone in (first, second, third):
        stored = Phone.objects.get(pk=phone.pk)
        assert (stored.customer_id, stored.extension, stored.audit_head) == (
            phone.customer_id,
            phone.extension,
            phone.audit_head,
        )
    assert Phone.objects.get(pk=first.pk).updated_at == first.updated_at > before[first.pk].updated_at
    assert Phone.objects.get(pk=third.pk).updated_at == before[third.pk].updated_at  # not listed: not written
    # Keys set on the instances, in the order given within a table (a chain is read in key order).
    assert new.pk is not None and not new._state.adding
    assert entries[0].pk < entries[1].pk < entries[2].pk
    for entry in entries:
        stored = AuditEntry.objects.get(pk=entry.pk)
        assert (stored.hash, stored.phone_id, stored.payload, stored.created_at) == (
            entry.hash,
            entry.phone_id,
            entry.payload,
            entry.created_at,
        )
    assert Phone.objects.get(pk=new.pk).number == "9200-0009"


@pytest.mark.postgres  # one statement: SQLite has no data-modifying CTEs (it runs one per row)
def test_write_many_is_one_statement_built_once_per_combination(make_operator):
    actor = make_operator("crm-operator")
    phones = [insert_row(_new_phone(account_id=330 + n, number=f"9300-000{n}")) for n in range(4)]
    db_writes._MANY_SQL.clear()
    for round_ in range(3):
        for phone in phones:
            phone.extension = str(round_)
        entries = [_entry_for(phone, actor) for phone in phones]
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            write_many(inserts=entries, updates=[(phone, ["extension"]) for phone in phones])
        writes = [q for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
        assert len(writes) == 1, writes
    assert len(db_writes._MANY_SQL) == 1
    with transaction.atomic():
        write_many(updates=[(phones[0], ["extension"])])
    assert len(db_writes._MANY_SQL) == 2  # another combination, another statement


def test_write_many_is_all_or_nothing(make_operator):
    actor = make_operator("crm-operator")
    phone = insert_row(_new_phone(account_id=340))
    gone = _new_phone(account_id=341, number="9400-0001")
    gone.pk = 2**62
    phone.extension, gone.extension = "5", "6"
    entries = AuditEntry.objects.count()
    with pytest.raises(Phone.DoesNotExist), transaction.atomic():
        write_many(inserts=[_entry_for(phone, actor)], updates=[(phone, ["extension"]), (gone, ["extension"])])
    assert Phone.objects.get(pk=phone.pk).extension is None
    assert AuditEntry.objects.count() == entries


@pytest.mark.postgres  # SQLite does not enforce a varchar's length
def test_write_many_refuses_a_value_too_long_for_its_column_instead_of_cutting_it():
    phone = insert_row(_new_phone(account_id=350))
    phone.extension = "9" * 200
    with pytest.raises(DataError), transaction.atomic():
        write_many(updates=[(phone, ["extension"])])
    assert Phone.objects.get(pk=phone.pk).extension is None


def test_write_many_refuses_expressions_and_a_row_updated_twice():
    from django.db.models import F

    phone = insert_row(_new_phone(account_id=360))
    phone.extension = F("number")
    with pytest.raises(ValueError, match="plain values"):
        write_many(updates=[(phone, ["extension"])])
    phone.extension = "1"
    with pytest.raises(ValueError, match="updated twice"), transaction.atomic():
        write_many(updates=[(phone, ["extension"]), (phone, ["customer_id"])])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_write_many_refuses_an_update_outside_a_transaction():
    # A statement's inserts could not be undone after a missed update.
    phone = insert_row(_new_phone(account_id=361))
    phone.extension = "1"
    with pytest.raises(transaction.TransactionManagementError):
        write_many(updates=[(phone, ["extension"])])


@pytest.mark.postgres  # keys reserved ahead (a sequence) and the parameter limit are PostgreSQL's
def test_write_many_leaves_keys_given_ahead_on_their_rows_whatever_their_order():
    from backoffice.db_writes import reserve_id

    low, high = reserve_id(Phone), reserve_id(Phone)
    first, second = _new_phone(account_id=370, number="9500-0001"), _new_phone(account_id=371, number="9500-0002")
    first.pk, second.pk = high, low
    write_many(inserts=[first, second])
    assert (first.pk, second.pk) == (high, low)
    assert Phone.objects.get(pk=high).number == "9500-0001" and Phone.objects.get(pk=low).number == "9500-0002"


@pytest.mark.postgres
def test_a_write_past_the_parameter_limit_goes_in_parts_in_order_all_or_nothing(make_operator, monkeypatch):
    monkeypatch.setattr(db_writes, "MAX_PARAMETERS", 100)  # PostgreSQL's is 65,535: a phone takes 14
    phones = [_new_phone(account_id=380 + n, number=f"9600-{n:04d}") for n in range(20)]
    with CaptureQueriesContext(connection) as queries:
        write_many(inserts=phones)
    writes = [q for q in queries.captured_queries if q["sql"].startswith("WITH part_0")]
    assert len(writes) > 2
    assert [p.pk for p in phones] == sorted(p.pk for p in phones)
    assert list(Phone.objects.filter(account_id__gte=380, account_id__lt=400).order_by("pk")) == phones
    # A missed update in the last part: nothing of the earlier parts stays.
    for phone in phones:
        phone.extension = "7"
    gone = _new_phone(account_id=399, number="9600-9999")
    gone.pk = 2**62
    with pytest.raises(Phone.DoesNotExist), transaction.atomic():
        write_many(updates=[(phone, ["extension"]) for phone in [*phones, gone]])
    assert not Phone.objects.filter(extension="7").exists()


@pytest.mark.skipif(not POSTGRES, reason="psycopg's statement cache")
def test_a_statement_of_many_parameters_is_parsed_once(make_operator):
    """psycopg parses a statement's placeholders at every execution unless it caches them, which
    it did only up to 50 parameters: a lone job's record (~75) was parsed at every job."""
    from psycopg import _queries

    assert _queries.MAX_CACHED_STATEMENT_PARAMS >= db_writes.CACHED_STATEMENT_PARAMS  # applied at start-up
    actor = make_operator("crm-operator")
    phone = insert_row(_new_phone(account_id=330, number="9300-0001"))
    parsed = []
    original = _queries._query2pg_nocache

    def counted(query, encoding):
        parsed.append(query)
        return original(query, encoding)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_queries, "_query2pg_nocache", counted)
        for _ in range(3):
            with transaction.atomic():
                entries = [_entry_for(phone, actor) for _ in range(5)]  # 5 entries: over 50 parameters
                with CaptureQueriesContext(connection) as queries:
                    write_many(inserts=entries, updates=[])
                assert len(queries) == 1
    assert parsed == []


def test_cache_built_statements_refuses_a_psycopg_without_the_limit():
    from types import SimpleNamespace

    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="psycopg's statement cache changed"):
        db_writes.cache_built_statements(SimpleNamespace())
    changed = SimpleNamespace(MAX_CACHED_STATEMENT_PARAMS=50, _query2pg=lambda query, encoding: None)
    with pytest.raises(ImproperlyConfigured):
        db_writes.cache_built_statements(changed)
    kept = SimpleNamespace(MAX_CACHED_STATEMENT_PARAMS=50, _query2pg=_cached_query2pg())
    db_writes.cache_built_statements(kept)
    db_writes.cache_built_statements(kept)
    assert kept.MAX_CACHED_STATEMENT_PARAMS == db_writes.CACHED_STATEMENT_PARAMS


def _cached_query2pg():
    from functools import lru_cache

    @lru_cache
    def _query2pg(query, encoding):
        return query

    return _query2pg
