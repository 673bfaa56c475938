"""``CompiledSelect``, ``update_fields``, ``insert_row``: what the ORM does, with the SQL built once."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction
from django.db.models import Count, F, QuerySet, Value, Window
from django.test.utils import CaptureQueriesContext
from psycopg import pq

from audit.models import AuditEntry
from backoffice.db import CompiledSelect, Fetch, fetch_together, sql_constant
from phones.models import Phone, PhoneType
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db


def by_account(shape: tuple[bool | None, int], *, account_id: int) -> QuerySet[Phone]:
    active, limit = shape
    queryset = Phone.objects.filter(account_id=account_id)
    if active is not None:
        queryset = queryset.filter(active=active)
    return queryset.annotate(total=Window(Count("*"))).order_by("id")[:limit]


def test_rows_are_the_orms_instances_with_annotations(make_operator):
    actor = make_operator("crm-operator")
    phones = [PhoneFactory(account_id=7, number=f"1111-000{n}", actor=actor) for n in range(3)]
    PhoneFactory(account_id=8, actor=actor)
    select = CompiledSelect(by_account)
    rows = select.fetch((None, 2), account_id=7)
    expected = list(by_account((None, 2), account_id=7))
    assert [row.pk for row in rows] == [phone.pk for phone in phones[:2]]
    for row, orm in zip(rows, expected, strict=True):
        assert {f.attname: getattr(row, f.attname) for f in Phone._meta.concrete_fields} == {
            f.attname: getattr(orm, f.attname) for f in Phone._meta.concrete_fields
        }
        assert row.total == orm.total == 3
        assert not row._state.adding and row._state.db == "default"
    assert [row.pk for row in select.fetch((None, 2), account_id=8)] == [Phone.objects.get(account_id=8).pk]
    assert select.fetch((None, 2), account_id=9) == []


def test_values_go_as_parameters_and_each_shape_compiles_once(make_operator):
    actor = make_operator("crm-operator")
    PhoneFactory(account_id=7, actor=actor)
    select = CompiledSelect(by_account, max_shapes=2)
    with CaptureQueriesContext(connection) as queries:
        for account in (7, 8, 9):
            select.fetch((True, 5), account_id=account)
    assert len({query["sql"] for query in queries}) == 3  # the logged SQL carries the values...
    assert len(select._cache) == 1  # ...but the statement was compiled once
    select.fetch((False, 5), account_id=7)
    select.fetch((None, 5), account_id=7)
    assert len(select._cache) == 2  # least recently used shape dropped


def test_the_querys_own_text_constants_are_written_into_its_sql_and_values_stay_parameters(make_operator):
    """A constant of the query (a status, a type) is part of its text, so that PostgreSQL can
    plan the statement once for all values; a value passed at each fetch stays a parameter, and
    a constant that is not plainly a word (a quote in it) stays one too."""
    actor = make_operator("crm-operator")
    mobile = PhoneFactory(account_id=7, number="1111-0001", type="MOBILE", actor=actor)
    PhoneFactory(account_id=7, number="1111-0002", type="RESIDENTIAL", actor=actor)

    def build(_shape: None, *, account_id: int) -> QuerySet[Phone]:
        return Phone.objects.filter(account_id=account_id, type=PhoneType.MOBILE).exclude(extension="1'2")

    select = CompiledSelect(build)
    compiled = select._compiled(None)
    assert "'MOBILE'" in compiled.sql
    assert [param for param in compiled.params if isinstance(param, str)] == ["1'2"]
    assert len(compiled.params) == 2
    assert [row.pk for row in select.fetch(account_id=7)] == [mobile.pk]
    assert [row.pk for row in build(None, account_id=7)] == [mobile.pk]
    assert select.fetch(account_id=8) == []


def test_sql_constant_writes_a_plain_word_and_refuses_anything_else():
    """The one place statements built by hand (the claim, the supersede) and compiled selects
    turn a constant into SQL text."""
    assert sql_constant(PhoneType.MOBILE) == "'MOBILE'" and sql_constant("") == "''"
    for bad in ("1'2", "a\\b", "50%", "x\x00", 7):
        with pytest.raises(ValueError):
            sql_constant(bad)


def test_a_value_that_is_not_a_parameter_is_refused():
    select = CompiledSelect(lambda _shape, *, account_id: Phone.objects.filter(pk=1)[: account_id + 2**62 + 5])
    with pytest.raises(ValueError, match="account_id"):
        select.fetch(account_id=1)


def test_only_plain_model_queries():
    select = CompiledSelect(lambda _shape, *, account_id: Phone.objects.filter(account_id=account_id).values("id"))
    with pytest.raises(ValueError, match="plain model query"):
        select.fetch(account_id=1)


def test_write_rows_update_writes_what_save_would(make_operator):
    from datetime import timedelta

    from backoffice.db_writes import write_rows

    phone = PhoneFactory(account_id=7, actor=make_operator("crm-operator"))
    before = Phone.objects.get(pk=phone.pk)
    phone.extension = "77"
    phone.customer_id = 5  # changed in memory but not listed: not written
    phone.updated_at = before.updated_at - timedelta(days=1)  # auto_now: replaced, as save() does
    write_rows(update=(phone, ["extension", "updated_at"]))
    after = Phone.objects.get(pk=phone.pk)
    assert (after.extension, after.customer_id) == ("77", before.customer_id)
    assert after.updated_at > before.updated_at and after.updated_at == phone.updated_at


def test_write_rows_statements_are_kept_for_a_bounded_number_of_combinations(make_operator):
    # One statement per combination of rows and fields, built once. The combinations are few in
    # practice, but the fields a change touches are any subset of a phone's: the cache must not
    # grow with them for the life of a worker (it had no bound, unlike write_many's).
    from itertools import combinations

    from backoffice import db_writes
    from backoffice.db_writes import write_rows

    phone = PhoneFactory(account_id=7, actor=make_operator("crm-operator"))
    names = ["extension", "customer_id", "area_code", "country_code", "type", "number", "e164", "active", "updated_at"]
    subsets = [list(c) for size in range(1, len(names) + 1) for c in combinations(names, size)]
    assert len(subsets) > db_writes.WRITE_SQL_MAX
    db_writes._built_write_sql.cache_clear()
    for subset in subsets:
        write_rows(update=(phone, subset))
    info = db_writes._built_write_sql.cache_info()
    assert info.currsize == db_writes.WRITE_SQL_MAX and info.misses == len(subsets)
    write_rows(update=(phone, subsets[-1]))  # the most recent combination is still there
    assert db_writes._built_write_sql.cache_info().hits == 1
    assert Phone.objects.get(pk=phone.pk).extension == phone.extension


def test_write_rows_update_of_a_missing_row_raises(make_operator):
    from backoffice.db_writes import write_rows

    phone = PhoneFactory(account_id=7, actor=make_operator("crm-operator"))
    phone.pk = 10**12
    with pytest.raises(Phone.DoesNotExist):
        write_rows(update=(phone, ["extension"]))


def _columns(phone: Phone) -> dict:
    row = Phone.objects.filter(pk=phone.pk).values().get()
    return {key: value for key, value in row.items() if key not in ("id", "created_at", "updated_at")}


def test_insert_row_writes_what_save_would_and_sends_the_save_signals():
    from django.db import transaction
    from django.db.models.signals import post_save, pre_save

    from backoffice.db_writes import insert_row

    def new(account_id: int) -> Phone:
        phone = Phone(account_id=account_id, customer_id=9, number="91234-5678", type="MOBILE", area_code=11)
        phone.derive()
        return phone

    seen: list[tuple[str, int | None, bool | None]] = []

    def pre(sender, instance, **kwargs):
        seen.append(("pre", instance.pk, None))

    def post(sender, instance, created, **kwargs):
        seen.append(("post", instance.pk, created))

    pre_save.connect(pre, sender=Phone)
    post_save.connect(post, sender=Phone)
    try:
        with transaction.atomic():
            saved = new(1)
            saved.save(force_insert=True)
            inserted = insert_row(new(2))
    finally:
        pre_save.disconnect(pre, sender=Phone)
        post_save.disconnect(post, sender=Phone)
    assert inserted.pk == saved.pk + 1 and not inserted._state.adding and inserted._state.db == "default"
    assert _columns(inserted) == {**_columns(saved), "account_id": 2}
    stored = Phone.objects.get(pk=inserted.pk)
    assert inserted.created_at is not None and stored.created_at == inserted.created_at
    assert stored.updated_at == inserted.updated_at
    assert seen[2:] == [("pre", None, None), ("post", inserted.pk, True)]


def test_insert_row_duplicate_rolls_back_its_transaction_and_odd_instances_take_save():
    from django.db import IntegrityError, transaction
    from django.db.models import Value
    from django.db.models.functions import Upper

    from backoffice.db_writes import insert_row

    def new() -> Phone:
        phone = Phone(account_id=3, number="91234-5678", type="MOBILE", area_code=11)
        phone.derive()
        return phone

    insert_row(new())
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(new())
    assert Phone.objects.filter(account_id=3).count() == 1
    # An expression as a value: Model.save resolves it.
    odd = new()
    odd.number = "9999-0000"
    odd.derive()
    odd.extension = Upper(Value("x"))
    insert_row(odd)
    assert Phone.objects.get(pk=odd.pk).extension == "X"


def _entry_for(phone: Phone, actor) -> AuditEntry:
    from audit.models import Origin
    from audit.services import AuditContext, build_entry
    from backoffice.actor import Actor
    from phones.objects import phone_object

    return build_entry(
        actor=Actor.of(actor),
        event="phone_creation",
        context=AuditContext(origin=Origin.API),
        obj=phone_object(phone),
        changes={},
        phone_id=phone.pk,
        account_id=phone.account_id,
        prev_hash="",
    )


def _new_phone(account_id: int = 5, number: str = "91234-5678") -> Phone:
    phone = Phone(account_id=account_id, number=number, type="MOBILE", area_code=11)
    phone.derive()
    return phone


@pytest.mark.postgres
def test_write_rows_inserts_writes_a_row_and_the_row_referencing_it_in_one_statement(make_operator):
    from backoffice.db_writes import reserve_id, write_rows

    actor = make_operator("crm-operator")
    phone = _new_phone()
    phone.pk = reserve_id(Phone)
    entry = _entry_for(phone, actor)
    with CaptureQueriesContext(connection) as queries:
        write_rows(insert=[phone, entry])
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1 and statements[0].startswith("WITH part_0 AS (INSERT INTO")
    assert entry.pk and not phone._state.adding and not entry._state.adding
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.phone_id == phone.pk == Phone.objects.get(number_digits="912345678", account_id=5).pk


@pytest.mark.postgres
def test_write_rows_inserts_writes_all_or_nothing(make_operator):
    from django.db import IntegrityError, transaction

    from backoffice.db_writes import insert_row, reserve_id, write_rows

    actor = make_operator("crm-operator")
    insert_row(_new_phone())
    duplicate = _new_phone()
    duplicate.pk = reserve_id(Phone)
    with pytest.raises(IntegrityError), transaction.atomic():
        write_rows(insert=[_entry_for(duplicate, actor), duplicate])  # the entry's part alone would succeed
    assert not AuditEntry.objects.filter(phone_id=duplicate.pk).exists()
    assert Phone.objects.filter(account_id=5).count() == 1


def test_write_rows_inserts_without_data_modifying_ctes_uses_an_atomic_block(make_operator, monkeypatch):
    from django.db import IntegrityError

    from backoffice.db_writes import write_rows

    actor = make_operator("crm-operator")
    monkeypatch.setattr(connection, "vendor", "sqlite-like")
    first = _new_phone(account_id=6)
    write_rows(insert=[first])
    entry = _entry_for(first, actor)
    with pytest.raises(IntegrityError):
        write_rows(insert=[entry, _new_phone(account_id=6)])  # the phone is a duplicate: the entry goes too
    assert not AuditEntry.objects.filter(phone_id=first.pk).exists()


@pytest.mark.postgres
def test_reserve_id_takes_keys_from_the_sequence_a_block_at_a_time(monkeypatch):
    from backoffice import db_writes as db

    db._ID_BLOCKS.clear()
    with CaptureQueriesContext(connection) as queries:
        keys = [db.reserve_id(Phone) for _ in range(db.ID_BLOCK_SIZE + 1)]
    assert len(queries) == 2 and all("nextval" in q["sql"] for q in queries)
    assert len(set(keys)) == len(keys) and keys[: db.ID_BLOCK_SIZE] == sorted(keys[: db.ID_BLOCK_SIZE])
    # A forked process (a Celery or gunicorn child) starts its own block.
    monkeypatch.setattr(db.os, "getpid", lambda: -1)
    assert db.reserve_id(Phone) not in keys


def test_reserve_id_is_none_without_sequences(monkeypatch):
    from backoffice import db_writes as db

    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert db.reserve_id(Phone) is None


@pytest.mark.postgres
def test_write_rows_updates_and_inserts_in_one_statement_and_checks_the_update(make_operator):
    from django.db import transaction

    from backoffice.db_writes import insert_row, write_rows

    actor = make_operator("crm-operator")
    phone = insert_row(_new_phone(account_id=8))
    before = Phone.objects.get(pk=phone.pk)
    phone.extension = "42"
    entry = _entry_for(phone, actor)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        write_rows(update=(phone, ["extension", "updated_at"]), insert=[entry])
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1 and statements[0].startswith('WITH part_0 AS (UPDATE "phones_phone"')
    after = Phone.objects.get(pk=phone.pk)
    assert after.extension == "42" and after.updated_at > before.updated_at
    assert AuditEntry.objects.get(pk=entry.pk).phone_id == phone.pk
    # A row that is not there: nothing of the statement stays.
    gone = _new_phone(account_id=8)
    gone.pk = 10**12
    lost = _entry_for(phone, actor)
    with pytest.raises(Phone.DoesNotExist), transaction.atomic():
        write_rows(update=(gone, ["extension"]), insert=[lost])
    assert AuditEntry.objects.filter(phone_id=phone.pk).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_write_rows_refuses_an_update_with_inserts_outside_a_transaction(make_operator):
    from django.db import transaction

    from backoffice.db_writes import insert_row, write_rows

    actor = make_operator("crm-operator")
    phone = insert_row(_new_phone(account_id=9))
    # The statement's insert could not be undone after a missed update.
    with pytest.raises(transaction.TransactionManagementError):
        write_rows(update=(phone, ["extension"]), insert=[_entry_for(phone, actor)])
    assert not AuditEntry.objects.filter(phone_id=phone.pk).exists()


# --- The Django internals behind ``CompiledSelect`` (all read in ``backoffice.db._compiled_layout``)
DJANGO_INTERNALS = "Django internals changed: review backoffice.db._compiled_layout"


def _entries_of(_shape: object, *, account_id: int) -> QuerySet[AuditEntry]:
    """Converted columns (JSONField everywhere, DateTimeField on SQLite) and an annotation."""
    return AuditEntry.objects.filter(account_id=account_id).annotate(total=Window(Count("*"))).order_by("id")


def test_the_django_internals_compiled_select_reads_keep_their_shapes():
    from django.db.models.query import ModelIterable

    from backoffice.db import _compiled_layout

    queryset = _entries_of(None, account_id=1)
    attnames = [field.attname for field in AuditEntry._meta.concrete_fields]
    try:
        assert queryset._iterable_class is ModelIterable, "QuerySet._iterable_class"
        assert queryset.values("id")._iterable_class is not ModelIterable, "values()' _iterable_class"
        assert not queryset.query.select_related, "Query.select_related of a plain query"
        assert AuditEntry.objects.select_related("phone").query.select_related, "Query.select_related"
        compiler = queryset.query.get_compiler(using="default")
        sql, params = compiler.as_sql()
        assert isinstance(sql, str) and isinstance(params, list | tuple), "SQLCompiler.as_sql()"
        assert compiler.klass_info["model"] is AuditEntry, "SQLCompiler.klass_info['model']"
        select_fields = compiler.klass_info["select_fields"]
        assert select_fields == list(range(len(attnames))), "klass_info['select_fields']: the model's columns"
        assert all(len(column) == 3 for column in compiler.select), "SQLCompiler.select: (expression, sql, alias)"
        selected = [column[0].target.attname for column in compiler.select[: len(attnames)]]
        assert selected == attnames, "SQLCompiler.select: Col expressions with a target field"
        assert dict(compiler.annotation_col_map) == {"total": len(attnames)}, "SQLCompiler.annotation_col_map"
        converters = compiler.get_converters([column[0] for column in compiler.select])
        assert isinstance(converters, dict), "SQLCompiler.get_converters(expressions) -> dict"
        assert attnames.index("payload") in converters, "get_converters: position -> (converters, expression)"
        layout = _compiled_layout(queryset, "default")
        assert (layout.sql, layout.params) == (sql, list(params))
        assert (layout.start, layout.stop, layout.fields) == (0, len(attnames), attnames)
        assert layout.annotations == [("total", len(attnames))] and layout.converted
        assert len(layout.expressions) == len(attnames) + 1
    except (AssertionError, AttributeError, KeyError, IndexError, TypeError) as exc:
        pytest.fail(f"{DJANGO_INTERNALS}: {type(exc).__name__}: {exc}")


def test_compiled_select_fetches_what_the_orm_does_converted_fields_and_annotations_included(make_operator):
    actor = make_operator("crm-operator")
    for n in range(3):
        PhoneFactory(account_id=41, number=f"2222-000{n}", actor=actor)
    PhoneFactory(account_id=42, actor=actor)
    select = CompiledSelect(_entries_of)
    for account in (41, 42, 43):
        fetched = select.fetch(account_id=account)
        expected = list(_entries_of(None, account_id=account))
        names = [field.attname for field in AuditEntry._meta.concrete_fields]
        mismatch = [
            (row.pk, name)
            for row, orm in zip(fetched, expected, strict=False)
            for name in [*names, "total"]
            if getattr(row, name) != getattr(orm, name) or type(getattr(row, name)) is not type(getattr(orm, name))
        ]
        assert len(fetched) == len(expected) and not mismatch, f"{DJANGO_INTERNALS}: {mismatch or 'row count'}"
        for row in fetched:
            # The converted columns: a datetime (SQLite stores text) and JSON (decoded).
            assert row.created_at.tzinfo is not None and isinstance(row.payload, dict), DJANGO_INTERNALS
            assert not row._state.adding and row._state.db == "default", DJANGO_INTERNALS
    assert len(select.fetch(account_id=41)) >= 3


def test_write_rows_several_updates_and_inserts_in_one_statement_all_or_nothing(make_operator):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from backoffice.db_writes import insert_row, write_rows

    actor = make_operator("backoffice-operator")
    first, second = insert_row(_new_phone(account_id=11)), insert_row(_new_phone(account_id=12))
    first.extension, second.extension = "1", "2"
    entry = _entry_for(first, actor)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        write_rows(update=(first, ["extension"]), updates=[(second, ["extension"])], insert=[entry])
    writes = [q for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    if connection.vendor == "postgresql":
        assert len(writes) == 1
    assert entry.pk is not None
    assert [p.extension for p in Phone.objects.filter(pk__in=[first.pk, second.pk]).order_by("account_id")] == [
        "1",
        "2",
    ]
    # A second update that matches nothing: nothing of the statement stays.
    gone = _new_phone(account_id=13)
    gone.pk = 2**62
    first.extension = "9"
    entries = AuditEntry.objects.count()
    with pytest.raises(Phone.DoesNotExist), transaction.atomic():
        write_rows(update=(first, ["extension"]), updates=[(gone, ["extension"])], insert=[_entry_for(first, actor)])
    assert Phone.objects.get(pk=first.pk).extension == "1"
    assert AuditEntry.objects.count() == entries


def test_write_rows_statements_go_in_the_same_statement_and_see_the_rows_as_they_were(make_operator):
    """A caller's own statement (``enqueue_job``'s supersede) is a part of the write: one
    statement on PostgreSQL; it does not see the rows the write inserts, on any database."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from backoffice.db_writes import insert_row, write_rows

    make_operator("backoffice-operator")
    kept, changed = insert_row(_new_phone(account_id=21)), insert_row(_new_phone(account_id=22))
    changed.extension = "5"
    newer = _new_phone(account_id=21, number="1111-2222")
    quote = connection.ops.quote_name
    retag = (
        f"UPDATE {quote('phones_phone')} SET {quote('customer_id')} = %s WHERE {quote('account_id')} = %s",
        [99, 21],
    )
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        write_rows(update=(changed, ["extension"]), insert=[newer], statements=[retag])
    writes = [q for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    if connection.vendor == "postgresql":
        assert len(writes) == 1 and "customer_id" in writes[0]["sql"]
    rows = {p.pk: (p.extension, p.customer_id) for p in Phone.objects.filter(account_id__in=[21, 22])}
    # the statement's row retagged, the updated row updated, the inserted row as inserted
    assert rows == {kept.pk: (kept.extension, 99), changed.pk: ("5", changed.customer_id), newer.pk: (None, None)}
    with pytest.raises(ValueError, match="at least one row"):
        write_rows(statements=[retag])


def test_converters_are_looked_up_once_per_connection(make_operator, monkeypatch):
    """Rows still convert as the ORM's do (JSON, UUIDs); the fields and the backend are asked
    for their converters once per connection (a thread's), not on every fetch."""
    import threading

    from django.db import connections

    from backoffice import db
    from phones.models import ProviderLink
    from phones.tests.factories import PhoneFactory

    actor = make_operator("backoffice-operator")
    phone = PhoneFactory(account_id=31, actor=actor)
    ProviderLink.objects.create(phone=phone, provider="plivo", settings={"alias": "a"}, target_number=phone.e164)
    calls = []
    original = db._converters
    monkeypatch.setattr(db, "_converters", lambda *a: calls.append(1) or original(*a))
    select = CompiledSelect(lambda _shape, *, phone_id: ProviderLink.objects.filter(phone_id=phone_id))
    for _ in range(3):
        (link,) = select.fetch(phone_id=phone.pk)
        assert link.settings == {"alias": "a"}  # decoded from JSON, as the ORM does
    assert len(calls) == 1
    in_thread = []

    def other_thread():
        # Its own connection, outside the test's transaction: no row, but its own converters.
        in_thread.append(select.fetch(phone_id=phone.pk))
        connections.close_all()

    if connection.vendor == "postgresql":  # SQLite's in-memory test database is not shared
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert in_thread == [[]] and len(calls) == 2


def test_a_finished_threads_connection_is_not_kept_by_the_converters(make_operator):
    """Converters bound to a thread's connection go with it (SQLite's backend converters are
    methods of the connection's operations: a cache keyed by the connection kept every
    finished thread's connection alive)."""
    import gc
    import threading
    import weakref

    from django.db import connections

    from phones.models import ProviderLink

    select = CompiledSelect(lambda _shape, *, phone_id: ProviderLink.objects.filter(phone_id=phone_id))
    refs = []

    def other_thread():
        select.fetch(phone_id=1)
        refs.append(weakref.ref(connections["default"]))
        connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    gc.collect()
    assert refs and refs[0]() is None


def _by_id(_shape: None, *, phone_id: int) -> QuerySet[Phone]:
    return Phone.objects.filter(pk=phone_id)


def _boom(_shape: None, *, phone_id: int) -> QuerySet[Phone]:
    return Phone.objects.filter(pk=phone_id).annotate(boom=Value(1) / (F("id") - F("id")))


@pytest.mark.postgres
def test_fetch_together_sends_its_statements_in_order_in_one_pipeline(make_operator):
    """One round trip for several statements (psycopg's pipeline mode), run in the order given
    (a lock order holds), each answer what its own fetch gives."""
    actor = make_operator("crm-operator")
    phones = [PhoneFactory(account_id=7, number=f"1111-000{n}", actor=actor) for n in range(3)]
    select = CompiledSelect(_by_id)
    sent = []

    def keep(execute, sql, params, many, context):
        sent.append((params[-1], connection.connection.pgconn.pipeline_status == pq.PipelineStatus.ON))
        return execute(sql, params, many, context)

    order = [phones[2], phones[0], phones[1]]
    with connection.execute_wrapper(keep):
        answers = fetch_together([Fetch(select, {"phone_id": phone.pk}) for phone in order])
    assert sent == [(phone.pk, True) for phone in order]
    assert [[row.pk for row in rows] for rows in answers] == [[phone.pk] for phone in order]
    assert [rows[0].number for rows in answers] == [select.fetch(phone_id=phone.pk)[0].number for phone in order]
    assert connection.connection.pgconn.pipeline_status == pq.PipelineStatus.OFF


@pytest.mark.postgres
def test_fetch_together_raises_the_failed_statements_error_as_djangos_and_runs_nothing_after_it(make_operator):
    actor = make_operator("crm-operator")
    phone = PhoneFactory(account_id=7, actor=actor)
    sent = []

    def keep(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with pytest.raises(DataError, match="division by zero"), transaction.atomic(), connection.execute_wrapper(keep):
        fetch_together(
            [
                Fetch(CompiledSelect(_by_id), {"phone_id": phone.pk}),
                Fetch(CompiledSelect(_boom), {"phone_id": phone.pk}),
                Fetch(CompiledSelect(_by_id), {"phone_id": phone.pk}),
            ]
        )
    assert len(sent) == 3  # all sent; the third was skipped by the server after the error
    assert connection.connection.pgconn.pipeline_status == pq.PipelineStatus.OFF
    assert Phone.objects.get(pk=phone.pk).pk == phone.pk  # the connection is usable again
