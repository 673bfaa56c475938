"""Hot reads with their SQL built once per process (``CompiledSelect``, ``CompiledIdSelect``).
Their writes' counterpart is ``backoffice.db_writes``."""

from __future__ import annotations

import inspect
import re
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from enum import Enum
from threading import Lock
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models.query import ModelIterable

ModelT = TypeVar("ModelT", bound=models.Model)

# Stand-ins for the values during the one compile: ints no id or account can take.
_SENTINEL_BASE = -(2**62)

# A constant of a query written into its text: our own words (statuses, an empty string), never
# a quote, a backslash or a percent sign.
_INLINE_CONSTANT = re.compile(r"[A-Za-z0-9_.:+-]*")
# Django's placeholders, and its escaped percent sign, which is not one.
_PLACEHOLDER = re.compile(r"(%%|%s)")


def _word(value: Any) -> str | None:
    """``value``'s text when it is a plain word (an enum member's value too), else None."""
    text = value.value if isinstance(value, Enum) else value
    return text if type(text) is str and _INLINE_CONSTANT.fullmatch(text) else None


def sql_constant(value: str) -> str:
    """One of our own words (a status, a type) as an SQL string literal, for statements that name
    their constants in their text (a partial index's condition can then serve them in a plan made
    once); raises ``ValueError`` for anything that is not a plain word."""
    text = _word(value)
    if text is None:
        raise ValueError(f"not a plain word for an SQL literal: {value!r}")
    return f"'{text}'"


def _inline_constants(sql: str, params: list[Any], sentinels: dict[int, str]) -> tuple[str, list[Any]]:
    """Write the query's own text constants (a status in a subquery, say) into its SQL; the
    values passed at each fetch stay parameters.

    Why: PostgreSQL plans a prepared statement once for all its runs (a generic plan) only when
    that plan is about as cheap as one made for the values at hand, and a generic plan cannot use
    a partial index whose condition mentions a parameter. With its open statuses as parameters,
    the record's job lock (``provider_sync.recording``) was planned anew at every run, each time
    for the same constants: ~0.1 ms of PostgreSQL's CPU per recorded job here."""
    parts, kept, index = [], [], 0
    for part in _PLACEHOLDER.split(sql):
        if part != "%s":
            parts.append(part)
            continue
        param = params[index]
        index += 1
        is_value = isinstance(param, int) and int(param) in sentinels
        if not is_value and _word(param) is not None:
            parts.append(sql_constant(param))
        else:  # a value of each fetch, or a constant that is not a plain word: a parameter
            parts.append(part)
            kept.append(param)
    if index != len(params):
        raise ValueError("the compiled SQL's placeholders do not match its parameters")
    return "".join(parts), kept


@dataclass(frozen=True)
class _Layout:
    """A compiled model query and where its values sit in a row."""

    sql: str
    params: list[Any]
    start: int  # the model's columns are row[start:stop]...
    stop: int
    fields: list[str]  # ...with these attnames, in that order
    annotations: list[tuple[str, int]]  # (annotation name, position in a row)
    expressions: list[Any]  # one per column: what the converters are asked about
    converted: bool  # whether any column has a converter on this backend


def _compiled_layout(queryset: models.QuerySet[Any], using: str) -> _Layout:
    """The SQL of a plain model query and the layout of its rows, read from the ORM's compiler.

    This is the one place that reads Django's private query machinery; it was written against
    Django 5.2 (``SQLCompiler`` after ``as_sql()``: ``klass_info["select_fields"]`` the positions
    of the model's columns, ``select`` a list of ``(expression, (sql, params), alias)`` whose model
    columns are ``Col`` with a ``target`` field, ``annotation_col_map`` annotation name ->
    position, ``get_converters(expressions)`` a dict of the columns with converters;
    ``QuerySet._iterable_class`` and ``Query.select_related`` to refuse what is not a plain model
    query). Django has no public API that compiles a queryset once and turns later rows into
    instances, which is why ``CompiledSelect`` needs these. ``_converters`` and ``_converted`` do what
    ``SQLCompiler.apply_converters`` does, through the public ``get_db_converters`` hooks.
    ``backoffice/tests/test_db.py`` checks these shapes and that fetched rows equal the ORM's:
    when it fails after an upgrade, review this function.
    """
    if queryset._iterable_class is not ModelIterable or queryset.query.select_related:
        raise ValueError("CompiledSelect takes a plain model query (no values(), no select_related())")
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    select_fields = compiler.klass_info["select_fields"]
    start, stop = select_fields[0], select_fields[-1] + 1
    expressions = [column[0] for column in compiler.select]
    return _Layout(
        sql=sql,
        params=list(params),
        start=start,
        stop=stop,
        fields=[expression.target.attname for expression in expressions[start:stop]],
        annotations=list(compiler.annotation_col_map.items()),
        expressions=expressions,
        converted=bool(compiler.get_converters(expressions)),
    )


class _Compiled:
    __slots__ = (
        "__weakref__",
        "annotations",
        "converted",
        "expressions",
        "fields",
        "model",
        "params",
        "slots",
        "sql",
        "start",
        "stop",
        "using",
    )

    def __init__(self, model: type[models.Model], using: str, layout: _Layout, sentinels: dict[int, str]) -> None:
        self.model = model
        self.using = using
        self.sql, self.params = _inline_constants(layout.sql, layout.params, sentinels)
        # For each parameter: the name of the value that goes there and the int type the backend
        # wrapped it in (psycopg's Int8 for bigint columns), or None for a constant of the query.
        self.slots = [
            (sentinels[int(param)], type(param)) if isinstance(param, int) and int(param) in sentinels else None
            for param in self.params
        ]
        missing = set(sentinels.values()) - {slot[0] for slot in self.slots if slot is not None}
        if missing:
            raise ValueError(f"values not passed to the database as parameters: {sorted(missing)}")
        self.start, self.stop, self.fields = layout.start, layout.stop, layout.fields
        self.annotations = layout.annotations
        # Converters are bound to a connection (per thread in Django): only the expressions are
        # kept, and converters are taken from the connection of the thread that fetches.
        self.expressions = layout.expressions
        self.converted = layout.converted

    def converters_for(self, connection: Any) -> list[Any]:
        """This statement's converters on ``connection`` (a thread's DatabaseWrapper), looked up
        once: asking the fields and the backend on every fetch cost as much as the conversion.

        Kept on the connection, keyed weakly by the statement: a backend's converters are
        methods bound to that connection's operations, so a cache that outlived the
        connection would keep every finished thread's connection alive (SQLite's do; they
        would pin a weak-keyed cache's own keys). Here they go with the connection, and a
        statement dropped from its ``CompiledSelect`` leaves no entry."""
        cache = connection.__dict__.get(_CONVERTERS_ATTRIBUTE)
        if cache is None:
            cache = connection.__dict__[_CONVERTERS_ATTRIBUTE] = weakref.WeakKeyDictionary()
        found = cache.get(self)
        if found is None:
            found = cache[self] = _converters(self.expressions, connection)
        return found


# Where a connection keeps its statements' converters (``_Compiled.converters_for``).
_CONVERTERS_ATTRIBUTE = "_backoffice_compiled_converters"


def _converters(expressions: list[Any], connection: Any) -> list[tuple[int, list[Any], Any]]:
    """(position, converters, expression) of each column that has converters on ``connection``."""
    converters = []
    for position, expression in enumerate(expressions):
        found = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if found:
            converters.append((position, found, expression))
    return converters


def _converted(rows: list[tuple[Any, ...]], converters: list[Any], connection: Any) -> list[list[Any]]:
    """What ``SQLCompiler.apply_converters`` does, with this thread's connection and its
    ``converters`` (``_Compiled.converters_for``)."""
    converted = []
    for row in rows:
        values = list(row)
        for position, found, expression in converters:
            value = values[position]
            for converter in found:
                value = converter(value, expression, connection)
            values[position] = value
        converted.append(values)
    return converted


class CompiledSelect(Generic[ModelT]):
    """A model query built by ``build`` and compiled to SQL once per process, shape and database,
    then run with new values and turned into model instances as the ORM would.

    Compiling a queryset costs more Python time than its round trip to PostgreSQL (profiled:
    ~0.2 ms to compile the one-phone read, ~0.1 ms on the wire); the API's hottest reads keep
    only the round trip. ``build(shape, **values)`` returns the queryset; ``values`` are ints
    (ids) that must reach the database as parameters, ``shape`` is a hashable choice that
    changes the SQL text itself (filters used, page bounds) and keys the cache (LRU, bounded).
    Annotations come back as attributes, like the ORM's. The database is the one the queryset
    routes to when first compiled. ``names``: the values' names, for a ``build`` that takes them
    as ``**values`` (``CompiledIdSelect``).
    """

    def __init__(
        self,
        build: Callable[..., models.QuerySet[ModelT]],
        *,
        max_shapes: int = 128,
        names: Sequence[str] | None = None,
    ) -> None:
        self._build = build
        self._names = (
            list(names)
            if names is not None
            else [
                name
                for name, parameter in inspect.signature(build).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            ]
        )
        self._cache: OrderedDict[Hashable, _Compiled] = OrderedDict()
        self._max = max_shapes
        self._lock = Lock()

    def _compiled(self, shape: Hashable) -> _Compiled:
        with self._lock:
            compiled = self._cache.get(shape)
            if compiled is not None:
                self._cache.move_to_end(shape)
                return compiled
        sentinels = {_SENTINEL_BASE + index: name for index, name in enumerate(self._names)}
        queryset = self._build(shape, **{name: value for value, name in sentinels.items()})
        using = queryset.db
        compiled = _Compiled(queryset.model, using, _compiled_layout(queryset, using), sentinels)
        with self._lock:
            self._cache[shape] = compiled
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return compiled

    def fetch(self, shape: Hashable = None, **values: int) -> list[ModelT]:
        """The rows of the query for ``shape`` with these values, as model instances."""
        return fetch_together([Fetch(self, values, shape)])[0]

    def _statement(self, shape: Hashable, values: Mapping[str, int]) -> tuple[_Compiled, list[Any]]:
        compiled = self._compiled(shape)
        slots = zip(compiled.slots, compiled.params, strict=True)
        return compiled, [slot[1](values[slot[0]]) if slot is not None else param for slot, param in slots]


def _instances(compiled: _Compiled, rows: list[tuple[Any, ...]], connection: Any) -> list[Any]:
    """Rows of a compiled select as model instances, as the ORM makes them."""
    if compiled.converted:
        rows = _converted(rows, compiled.converters_for(connection), connection)
    model, using = compiled.model, compiled.using
    start, stop, fields = compiled.start, compiled.stop, compiled.fields
    instances = []
    for row in rows:
        instance = model.from_db(using, fields, row[start:stop])
        for name, position in compiled.annotations:
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


def _one_trip(connection: Any, statements: int) -> AbstractContextManager[Any]:
    """psycopg's pipeline mode for several statements on PostgreSQL; nothing otherwise."""
    if statements < 2 or connection.vendor != "postgresql":
        return nullcontext()
    connection.ensure_connection()
    return connection.connection.pipeline()


@dataclass(frozen=True)
class Fetch:
    """One run of a compiled select: its values (and shape), for ``fetch_together``."""

    select: CompiledSelect[Any]
    values: Mapping[str, int]
    shape: Hashable = None


def fetch_together(fetches: Sequence[Fetch]) -> list[list[Any]]:
    """The rows of each fetch, as model instances: the statements run one after the other on one
    connection, in the order given, and on PostgreSQL in one round trip.

    psycopg's pipeline mode sends every statement, then reads every answer; PostgreSQL still runs
    them in order, each after the one before has finished, so locks are taken in the order given,
    and a statement that fails aborts the ones after it (its error is raised here). A
    transaction's BEGIN, which psycopg sends before its first statement, goes in the same trip:
    a record's BEGIN and three locks cost one round trip instead of four. Every fetch must read
    the same database."""
    if not fetches:
        return []
    statements = [fetch.select._statement(fetch.shape, fetch.values) for fetch in fetches]
    using = statements[0][0].using
    if any(compiled.using != using for compiled, _ in statements):
        raise ValueError("fetch_together reads one database")
    connection = connections[using]
    with ExitStack() as stack:
        cursors = [stack.enter_context(connection.cursor()) for _ in statements]
        # Errors as Django's: an answer's error is raised when the pipeline ends.
        with connection.wrap_database_errors, _one_trip(connection, len(statements)):
            for cursor, (compiled, params) in zip(cursors, statements, strict=True):
                cursor.execute(compiled.sql, params)
        # Read once the trip is back: the pipeline's end waits for every answer (a fetch inside
        # it would wait for those sent so far, and its end then take a second trip).
        answers = [cursor.fetchall() for cursor in cursors]
    return [_instances(compiled, rows, connection) for (compiled, _), rows in zip(statements, answers, strict=True)]


# How many ids a ``CompiledIdSelect`` statement takes (a sync batch's size by default).
ID_SLOTS = 32


class CompiledIdSelect(Generic[ModelT]):
    """A model query over a list of ids, compiled once whatever the list's length.

    ``build(ids)`` returns the queryset for ``ids`` (``filter(pk__in=ids)`` and the like). The ids
    go in ``ID_SLOTS`` parameters; the slots past the last id repeat it (an ``IN`` list ignores
    a repeat), and a longer list goes ``ID_SLOTS`` ids at a time, in its order (sorted ids and a
    query ordered by id keep a lock order). A batch's locks without compiling a queryset each time
    (profiled: compiling the three locks of a recorded batch cost more than the batch's writes).
    One id alone (a change's, a lone job's: the common case) has a statement of its own, with one
    parameter: padded to ``ID_SLOTS``, it converted and planned 32 parameters for one row.
    """

    def __init__(self, build: Callable[[list[Any]], models.QuerySet[ModelT]]) -> None:
        self._slots = [f"id_{index}" for index in range(ID_SLOTS)]
        self._select: CompiledSelect[ModelT] = CompiledSelect(
            lambda _shape, **values: build([values[name] for name in self._slots]), names=self._slots
        )
        self._one: CompiledSelect[ModelT] = CompiledSelect(lambda _shape, *, id_0: build([id_0]), names=["id_0"])

    def fetches(self, ids: Sequence[int]) -> list[Fetch]:
        """The statements that read ``ids``, ``ID_SLOTS`` at a time, in their order
        (``fetch_together`` runs them with others)."""
        if len(ids) == 1:
            return [Fetch(self._one, {"id_0": ids[0]})]
        return [
            Fetch(self._select, {name: chunk[min(i, len(chunk) - 1)] for i, name in enumerate(self._slots)})
            for chunk in (ids[start : start + ID_SLOTS] for start in range(0, len(ids), ID_SLOTS))
        ]

    def fetch(self, ids: Sequence[int]) -> list[ModelT]:
        """The rows for ``ids``, chunk by chunk."""
        return [row for rows in fetch_together(self.fetches(ids)) for row in rows]
