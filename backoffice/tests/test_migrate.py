"""``backoffice.migrate``: the migrations' index swap builds what is missing, then drops what is
there, each step once, CONCURRENTLY on PostgreSQL."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models

from backoffice.migrate import swap_indexes

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = "phones_syncjob"
A = models.Index(fields=["number"], name="test_swap_a_idx")
B = models.Index(fields=["provider"], name="test_swap_b_idx")


def _indexes() -> set[str]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, TABLE)
    return {name for name, info in found.items() if info["index"]}


def _swap(add: list[models.Index], drop: list[models.Index]) -> list[str]:
    statements: list[str] = []

    def keep(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    # Outside a transaction, as the non-atomic migrations run it (CONCURRENTLY needs that).
    with connection.execute_wrapper(keep), connection.schema_editor(atomic=False) as editor:
        swap_indexes(apps, editor, "phones.SyncJob", add=add, drop=drop)
    return [sql for sql in statements if sql.lstrip().upper().startswith(("CREATE", "DROP"))]


def test_the_swap_builds_then_drops_each_index_once_and_can_run_again():
    try:
        built = _swap(add=[A], drop=[])
        assert "test_swap_a_idx" in _indexes()
        assert _swap(add=[A], drop=[]) == []  # a second run finds it done

        swapped = _swap(add=[B], drop=[A])
        assert {"test_swap_b_idx"} <= _indexes() and "test_swap_a_idx" not in _indexes()
        assert _swap(add=[B], drop=[A]) == []
        # The new index is built before the old one goes.
        assert "test_swap_b_idx" in swapped[0] and "test_swap_a_idx" in swapped[1]

        if connection.vendor == "postgresql":
            # The job table is written all the time: no lock against writes while an index builds.
            assert all("CONCURRENTLY" in sql for sql in built + swapped)
    finally:
        with connection.cursor() as cursor:
            for index in (A, B):
                cursor.execute(f'DROP INDEX IF EXISTS "{index.name}"')
    assert not {"test_swap_a_idx", "test_swap_b_idx"} & _indexes()
