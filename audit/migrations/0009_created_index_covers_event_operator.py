"""The entries' time index carries the event and the operator: a range of times grouped by day and
event (the dashboard's changes per day, and the same for a role that reads only its own entries)
is read from the index alone, never from the table, whatever order the rows lie in.

It replaces ``audit_created_idx`` (created_at alone): same number of indexes per insert. On
PostgreSQL the new one is built and the old one dropped CONCURRENTLY (no write lock on a table of
millions of entries), hence a non-atomic migration; elsewhere the index is a plain one.
"""

from django.db import migrations, models

OLD = "audit_created_idx"
NEW = "audit_created_cover_idx"


def _run(schema_editor, *statements: str) -> None:
    for statement in statements:
        schema_editor.execute(statement)


def forward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        _run(
            schema_editor,
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{NEW}" ON "audit_auditentry" ("created_at") '
            'INCLUDE ("event", "operator_id")',
            f'DROP INDEX CONCURRENTLY IF EXISTS "{OLD}"',
        )
    else:
        _run(
            schema_editor,
            f'CREATE INDEX IF NOT EXISTS "{NEW}" ON "audit_auditentry" ("created_at")',
            f'DROP INDEX IF EXISTS "{OLD}"',
        )


def backward(apps, schema_editor) -> None:
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    _run(
        schema_editor,
        f'CREATE INDEX{concurrently} IF NOT EXISTS "{OLD}" ON "audit_auditentry" ("created_at")',
        f'DROP INDEX{concurrently} IF EXISTS "{NEW}"',
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0008_more_access_events"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditentry", name=OLD),
                migrations.AddIndex(
                    model_name="auditentry",
                    index=models.Index(fields=["created_at"], include=["event", "operator"], name=NEW),
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
