"""Hot writes with their SQL built once per process (``write_rows``, ``write_many``,
``insert_row``) and keys reserved ahead of inserts (``reserve_id``); the reads' counterpart is
``backoffice.db``."""

from __future__ import annotations

import os
import re
from collections import OrderedDict, deque
from collections.abc import Sequence
from functools import lru_cache
from threading import Lock
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, transaction

ModelT = TypeVar("ModelT", bound=models.Model)


def _insert_fields(model: type[models.Model], keyed: bool) -> list[models.Field]:
    """The columns an INSERT of ``model`` writes: all but the auto key, unless the key is given."""
    meta = model._meta
    return [f for f in meta.local_concrete_fields if f is not meta.auto_field or keyed]


def _values(instance: models.Model, fields: Sequence[models.Field], add: bool, connection: Any) -> list[Any]:
    """The parameters of a row's ``fields``, as ``save`` computes them (``auto_now`` filled in)."""
    return [field.get_db_prep_save(field.pre_save(instance, add), connection=connection) for field in fields]


# psycopg turns a statement's %s into $1, $2... by parsing its text at every execution, and keeps
# the result (an LRU of 128 statements) only for statements of at most 4 KiB and 50 parameters:
# ORM statements with one parameter per value of a list would crowd the cache. The statements
# built here are few (``WRITE_SQL_MAX`` combinations) and the same at every change and job, but
# often take more: a lone job's record is one statement of ~75 parameters in 2 KiB, parsed anew
# at every job (0.2-0.3 ms of the worker's CPU, 17 % of the record's; measured in one process
# alternating the two limits). Up to this many parameters, a short statement is cached; psycopg's
# length limit still keeps long statements out.
CACHED_STATEMENT_PARAMS = 1024


def cache_built_statements(queries: Any = None) -> None:
    """Raise psycopg's parameter limit for caching a statement's conversion to
    ``CACHED_STATEMENT_PARAMS`` (at start-up: ``BackofficeConfig.ready``); idempotent. Raises
    ImproperlyConfigured when psycopg no longer has the limit this relies on."""
    if queries is None:
        try:
            from psycopg import _queries as queries
        except ImportError:  # no PostgreSQL driver: nothing to tune
            return
    limit = getattr(queries, "MAX_CACHED_STATEMENT_PARAMS", None)
    if not isinstance(limit, int) or not hasattr(getattr(queries, "_query2pg", None), "cache_info"):
        raise ImproperlyConfigured(
            "psycopg's statement cache changed (psycopg._queries.MAX_CACHED_STATEMENT_PARAMS, _query2pg): "
            "review backoffice.db_writes.cache_built_statements"
        )
    queries.MAX_CACHED_STATEMENT_PARAMS = max(limit, CACHED_STATEMENT_PARAMS)


# write_rows' statements by combination. Bounded (LRU) like write_many's: the combinations are
# few in practice (row types, and the fields a change touched), but nothing else bounds them.
WRITE_SQL_MAX = 256


def _write_sql(
    updates: Sequence[tuple[models.Model, Sequence[str]]],
    inserts: Sequence[models.Model],
    using: str,
    statements: Sequence[str] = (),
) -> tuple[str, list[list[models.Field]]]:
    """The statement of ``write_rows`` and, per part, the fields whose values it takes (an
    updated row's key is the last parameter of its part). Several parts become data-modifying
    CTEs of one statement whose one row gives each updated row count, then each inserted key;
    ``statements`` (the caller's own SQL) are further parts whose results nobody reads."""
    return _built_write_sql(
        using,
        tuple((type(instance), tuple(names)) for instance, names in updates),
        tuple(statements),
        tuple((type(instance), instance.pk is not None) for instance in inserts),
    )


@lru_cache(maxsize=WRITE_SQL_MAX)
def _built_write_sql(
    using: str,
    updates: tuple[tuple[type[models.Model], tuple[str, ...]], ...],
    statements: tuple[str, ...],
    inserts: tuple[tuple[type[models.Model], bool], ...],
) -> tuple[str, list[list[models.Field]]]:
    """``_write_sql`` for a combination: (model, field names) per update, (model, key given) per
    insert; built once per combination (the cache is thread-safe)."""
    quote = connections[using].ops.quote_name
    several = len(updates) + len(inserts) + len(statements) > 1
    parts, targets = [], []
    for model, names in updates:
        meta = model._meta
        fields = [meta.get_field(name) for name in names]
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        returning = " RETURNING 1" if several else ""
        parts.append(f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s{returning}")
        targets.append(fields)
    for model, keyed in inserts:
        meta = model._meta
        fields = _insert_fields(model, keyed)
        columns = ", ".join(quote(field.column) for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        parts.append(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "
            f"RETURNING {quote(meta.auto_field.column)}"
        )
        targets.append(fields)
    if not several:
        return parts[0], targets
    parts += statements
    names = [f"part_{index}" for index in range(len(parts))]
    ctes = ", ".join(f"{name} AS ({part})" for name, part in zip(names, parts, strict=True))
    picks = [f"(SELECT count(*) FROM {name})" for name in names[: len(updates)]]
    picks += [
        f"(SELECT {quote(model._meta.auto_field.column)} FROM {name})"
        for name, (model, _) in zip(names[len(updates) : len(updates) + len(inserts)], inserts, strict=True)
    ]
    return f"WITH {ctes} SELECT {', '.join(picks)}", targets


def _plain(instance: models.Model) -> bool:
    meta = instance._meta
    return (
        not meta.parents
        and meta.auto_field is not None
        and not any(hasattr(getattr(instance, f.attname), "resolve_expression") for f in meta.local_concrete_fields)
    )


def write_rows(
    *,
    update: tuple[models.Model, Sequence[str]] | None = None,
    insert: Sequence[models.Model] = (),
    updates: Sequence[tuple[models.Model, Sequence[str]]] = (),
    statements: Sequence[tuple[str, Sequence[Any]]] = (),
) -> None:
    """Write fields of saved rows and insert new rows, with the SQL built once per combination
    instead of on every call, and on PostgreSQL in one statement.

    ``update`` (and each of ``updates``): (instance, field names): what
    ``save(update_fields=...)`` writes, ``auto_now`` included, without ``pre_save``/``post_save``
    (the services that use it connect none); raises ``DoesNotExist`` when no row matched.
    ``insert``: new instances, what ``save(force_insert=True)`` writes (``auto_now_add`` filled
    in, generated keys set, ``pre_save``/``post_save`` sent).

    On PostgreSQL all parts go in one statement (data-modifying CTEs): all or nothing, and outside
    an atomic block that statement is its own transaction, without BEGIN and COMMIT round trips.
    The parts do not see each other's results: a row may reference another only through a key set
    beforehand (``reserve_id``), and with an update the caller must hold an atomic block (its
    count is checked after the statement). Elsewhere (SQLite has no data-modifying CTE) the parts
    run one by one in an atomic block. Instances that are not plain single-table rows with an auto
    key and concrete values (inheritance, a database default or an expression as a value) are
    inserted by ``save`` itself.

    ``statements``: (SQL, parameters) of further data-modifying statements of the caller's (an
    ``UPDATE`` of rows chosen by a condition), with at least one row to update or insert: parts
    of the same statement on PostgreSQL, where every part sees the rows as they were before it
    (none touches a row another part writes); elsewhere they run first, so they see the same.
    Their SQL is part of the cache key: constant text, values as parameters. Their row counts
    are not checked.
    """
    changed = [*([update] if update is not None else []), *updates]
    first = changed[0][0] if changed else insert[0] if insert else None
    if first is None:
        if statements:
            raise ValueError("write_rows: statements go with at least one row to update or insert")
        return
    using = first._state.db or "default"
    connection = connections[using]
    several = len(changed) + len(insert) + len(statements) > 1
    if not all(_plain(instance) for instance in insert) or (several and connection.vendor != "postgresql"):
        with transaction.atomic(using=using):
            # The caller's statements first: they see the rows as they were, as all the parts of
            # one statement do on PostgreSQL.
            with connection.cursor() as cursor:
                for statement, values in statements:
                    cursor.execute(statement, list(values))
            for one in changed:
                write_rows(update=one)
            for instance in insert:
                if _plain(instance):
                    write_rows(insert=[instance])
                else:
                    instance.save(force_insert=True, using=using)
        return
    if (changed or statements) and several and not connection.in_atomic_block:
        raise transaction.TransactionManagementError("write_rows: an update with other parts needs transaction.atomic")
    sql, targets = _write_sql(changed, insert, using, tuple(statement for statement, _ in statements))
    for instance in insert:
        if not instance._meta.auto_created:
            models.signals.pre_save.send(
                sender=type(instance), instance=instance, raw=False, using=using, update_fields=None
            )
    params: list[Any] = []
    for (instance, _), fields in zip(changed, targets, strict=False):
        params += _values(instance, fields, False, connection)
        params.append(instance.pk)
    for instance, fields in zip(insert, targets[len(changed) :], strict=True):
        params += _values(instance, fields, True, connection)
    for _, values in statements:
        params += values
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        if several:
            row = list(cursor.fetchone())
            counts, keys = row[: len(changed)], row[len(changed) :]
        else:
            counts = [cursor.rowcount] if changed else []
            keys = [cursor.fetchone()[0]] if insert else []
        for (instance, _), count in zip(changed, counts, strict=True):
            if count != 1:
                raise type(instance).DoesNotExist(f"{type(instance).__name__} {instance.pk} was not updated")
    for instance, pk in zip(insert, keys, strict=True):
        setattr(instance, instance._meta.auto_field.attname, pk)
        instance._state.db = using
        instance._state.adding = False
    for instance in insert:
        if not instance._meta.auto_created:
            models.signals.post_save.send(
                sender=type(instance), instance=instance, created=True, update_fields=None, raw=False, using=using
            )


# write_many's statements by combination (LRU: the combinations of a sync batch's outcomes are
# few, but nothing bounds them).
_MANY_SQL: OrderedDict[tuple[object, ...], str] = OrderedDict()
_MANY_SQL_MAX = 256
_MANY_SQL_LOCK = Lock()


def _cast(field: models.Field, connection: Any) -> str:
    """The type a ``VALUES`` list states for ``field``: its own, text for strings (a cast to
    ``varchar(n)`` would cut a long value instead of refusing it)."""
    db_type = field.cast_db_type(connection)
    return "text" if re.fullmatch(r"varchar(\(\d+\))?", db_type) else db_type


# PostgreSQL takes at most 65,535 parameters in one statement: a larger write goes in parts.
MAX_PARAMETERS = 65_535


def _many_sql(
    inserts: list[tuple[type[models.Model], bool, int]],
    updates: list[tuple[type[models.Model], tuple[str, ...], int]],
    using: str,
) -> str:
    """The statement of ``write_many``: per insert group (model, keys given, rows) a multi-row
    INSERT returning its keys; per update group (model, field names, rows) an UPDATE from a
    ``VALUES`` list returning a row per row written; all parts of one statement whose one row
    gives each update's count, then each insert's keys in ascending order (the rows' order)."""
    key = (using, tuple(inserts), tuple(updates))
    with _MANY_SQL_LOCK:
        sql = _MANY_SQL.get(key)
        if sql is not None:
            _MANY_SQL.move_to_end(key)
            return sql
    connection = connections[using]
    quote = connection.ops.quote_name
    parts, picks = [], []
    for model, names, count in updates:
        meta = model._meta
        fields = [meta.get_field(name) for name in names]
        pk = quote(meta.pk.column)
        row = ", ".join(f"%s::{_cast(field, connection)}" for field in [meta.pk, *fields])
        values = ", ".join([f"({row})"] * count)
        columns = ", ".join(["_pk", *(f"_{index}" for index in range(len(fields)))])
        assignments = ", ".join(f"{quote(field.column)} = v._{index}" for index, field in enumerate(fields))
        name = f"part_{len(parts)}"
        parts.append(
            f"{name} AS (UPDATE {quote(meta.db_table)} SET {assignments} FROM (VALUES {values}) AS v({columns}) "
            f"WHERE {quote(meta.db_table)}.{pk} = v._pk RETURNING 1)"
        )
        picks.append(f"(SELECT count(*) FROM {name})")
    for model, with_keys, count in inserts:
        meta = model._meta
        fields = _insert_fields(model, with_keys)
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        auto = quote(meta.auto_field.column)
        name = f"part_{len(parts)}"
        parts.append(
            f"{name} AS (INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES {', '.join([row] * count)} RETURNING {auto})"
        )
        picks.append(f"(SELECT array_agg({auto} ORDER BY {auto}) FROM {name})")
    sql = f"WITH {', '.join(parts)} SELECT {', '.join(picks)}"
    with _MANY_SQL_LOCK:
        _MANY_SQL[key] = sql
        while len(_MANY_SQL) > _MANY_SQL_MAX:
            _MANY_SQL.popitem(last=False)
    return sql


def write_many(
    *,
    inserts: Sequence[models.Model] = (),
    updates: Sequence[tuple[models.Model, Sequence[str]]] = (),
) -> None:
    """Insert new rows and write fields of saved rows, any number of them: on PostgreSQL one
    statement, whose SQL is built once per combination of models, field names and row counts
    (the batch form of ``write_rows``, for a sync batch's record).

    Inserts of one model go in one multi-row INSERT, their keys assigned in the order given and
    set on the instances, as ``bulk_create`` does; updates of one model and field names in one
    UPDATE from a ``VALUES`` list. Like ``bulk_create`` and ``QuerySet.update``: no signals;
    ``auto_now``/``auto_now_add`` are filled in. Values are plain (no expressions), and a row is
    updated once (all its fields in one entry). An update needs the caller's atomic block and
    raises ``DoesNotExist`` when a row was not there (the caller holds the rows' locks).
    Elsewhere (no data-modifying CTEs): ``bulk_create`` per model and ``write_rows`` per update,
    in an atomic block. A write past PostgreSQL's 65,535 parameters goes in several statements,
    in order, in one transaction.
    """
    if not inserts and not updates:
        return
    first = updates[0][0] if updates else inserts[0]
    using = first._state.db or "default"
    connection = connections[using]
    if any(not _plain(instance) for instance in inserts) or any(
        hasattr(getattr(instance, name), "resolve_expression") for instance, names in updates for name in names
    ):
        raise ValueError("write_many writes plain values of single-table rows")
    if len({(type(instance), instance.pk) for instance, _ in updates}) < len(updates):
        # An UPDATE from a VALUES list would write one of the two, and count one row.
        raise ValueError("write_many: a row is updated twice")
    if connection.vendor != "postgresql":
        with transaction.atomic(using=using):
            by_model: dict[type[models.Model], list[models.Model]] = {}
            for instance in inserts:
                by_model.setdefault(type(instance), []).append(instance)
            for model, rows in by_model.items():
                model._default_manager.using(using).bulk_create(rows)
            for one in updates:
                write_rows(update=one)
        return
    if updates and not connection.in_atomic_block:
        raise transaction.TransactionManagementError("write_many: an update needs transaction.atomic")
    rows_params = [len(names) + 1 for _, names in updates]
    rows_params += [len(_insert_fields(type(instance), instance.pk is not None)) for instance in inserts]
    if sum(rows_params) > MAX_PARAMETERS and len(rows_params) > 1:
        # In parts, in order (keys still rise in the order given), all in one transaction.
        with transaction.atomic(using=using):
            half_updates, half_inserts = len(updates) // 2, len(inserts) // 2
            write_many(inserts=inserts[:half_inserts], updates=updates[:half_updates])
            write_many(inserts=inserts[half_inserts:], updates=updates[half_updates:])
        return
    insert_groups: dict[tuple[type[models.Model], bool], list[models.Model]] = {}
    for instance in inserts:
        insert_groups.setdefault((type(instance), instance.pk is not None), []).append(instance)
    update_groups: dict[tuple[type[models.Model], tuple[str, ...]], list[models.Model]] = {}
    for instance, names in updates:
        update_groups.setdefault((type(instance), tuple(names)), []).append(instance)
    sql = _many_sql(
        [(model, keyed, len(rows)) for (model, keyed), rows in insert_groups.items()],
        [(model, names, len(rows)) for (model, names), rows in update_groups.items()],
        using,
    )
    params: list[Any] = []
    for (model, names), rows in update_groups.items():
        fields = [model._meta.get_field(name) for name in names]
        for instance in rows:
            params.append(instance.pk)
            params += _values(instance, fields, False, connection)
    for (model, keyed), rows in insert_groups.items():
        fields = _insert_fields(model, keyed)
        for instance in rows:
            params += _values(instance, fields, True, connection)
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = list(cursor.fetchone())
    for ((model, _), rows), count in zip(update_groups.items(), row[: len(update_groups)], strict=True):
        if count != len(rows):
            raise model.DoesNotExist(f"{count} of {len(rows)} {model.__name__} rows updated")
    for ((_, keyed), rows), keys in zip(insert_groups.items(), row[len(update_groups) :], strict=True):
        for instance, pk in zip(rows, keys, strict=True):
            if not keyed:  # keys given by the caller stay (they may not come in ascending order)
                setattr(instance, instance._meta.auto_field.attname, pk)
            instance._state.db = using
            instance._state.adding = False


def insert_row(instance: ModelT) -> ModelT:
    """``write_rows`` inserting one instance; returns it with its key set."""
    write_rows(insert=[instance])
    return instance


class _IdBlock:
    __slots__ = ("ids", "lock", "pid")

    def __init__(self) -> None:
        self.ids: deque[int] = deque()
        self.lock = Lock()
        self.pid = os.getpid()


_ID_BLOCKS: dict[tuple[type[models.Model], str], _IdBlock] = {}
ID_BLOCK_SIZE = 32


def reserve_id(model: type[models.Model], *, using: str = "default") -> int | None:
    """A key for a new row of ``model``, taken from its sequence before the insert; ``None``
    where the database has no sequences (SQLite: the insert assigns it).

    Keys come ``ID_BLOCK_SIZE`` at a time (one round trip per block, like PostgreSQL's own
    sequence ``CACHE``), per process: keys of rows created by different processes are unique
    but not in creation order, and a stopped process leaves a gap, as sequences do anyway.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    block = _ID_BLOCKS.get((model, using))
    if block is None or block.pid != os.getpid():  # a forked child never reuses its parent's keys
        block = _ID_BLOCKS[(model, using)] = _IdBlock()
    with block.lock:
        if block.ids:
            return block.ids.popleft()
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, ID_BLOCK_SIZE],
        )
        ids = [row[0] for row in cursor.fetchall()]
    with block.lock:
        block.ids.extend(ids[1:])
    return ids[0]
