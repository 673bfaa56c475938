"""Helpers for migrations (as Zulip's ``zerver/lib/migrate.py``): kept stable, since migrations
that ran already import them."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import migrations, models


def swap_indexes(
    apps: Any, schema_editor: Any, model_label: str, *, add: list[models.Index], drop: list[models.Index]
) -> None:
    """Build the indexes of ``add`` that do not exist yet, then drop those of ``drop`` that do.

    On PostgreSQL both CONCURRENTLY: a table written all the time is not locked against writes
    while an index builds (the migration must then be non-atomic). Each step is skipped when
    already done, so a migration that stopped half-way can run again."""
    model = apps.get_model(model_label)
    connection = schema_editor.connection
    options = {"concurrently": True} if connection.vendor == "postgresql" else {}
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    exists = {name for name, info in found.items() if info["index"]}
    for index in add:
        if index.name not in exists:
            schema_editor.execute(index.create_sql(model, schema_editor, **options))
    for index in drop:
        if index.name in exists:
            schema_editor.execute(index.remove_sql(model, schema_editor, **options))


def swap_indexes_operation(
    model_label: str, *, add: list[models.Index], drop: list[models.Index]
) -> migrations.RunPython:
    """The migration operation of ``swap_indexes``: ``add`` for ``drop`` forwards, the other way
    backwards (in a non-atomic migration, with the state's own operations beside it)."""
    return migrations.RunPython(
        partial(swap_indexes, model_label=model_label, add=add, drop=drop),
        partial(swap_indexes, model_label=model_label, add=drop, drop=add),
        elidable=False,
    )
