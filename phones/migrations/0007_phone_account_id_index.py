"""An account's phones by (account_id, id) instead of account_id alone.

``WHERE account_id = ? ORDER BY id DESC LIMIT 100`` (the admin's filter, the API's list) on the
single-column index let the planner walk the primary key backwards and filter: 480 ms for an
account of 7,500 phones among 1.5 million. The composite index serves that order directly and
every lookup by account, so it replaces the old one. On PostgreSQL both are built and dropped
CONCURRENTLY (no write lock on a large table), hence a non-atomic migration.
"""

from django.db import migrations, models

OLD = "phones_phone_account_id_cc81cfbe"
NEW = "phone_account_idx"


def _run(schema_editor, *statements: str) -> None:
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    for statement in statements:
        schema_editor.execute(statement.format(concurrently=concurrently))


def forward(apps, schema_editor) -> None:
    _run(
        schema_editor,
        f'CREATE INDEX{{concurrently}} IF NOT EXISTS "{NEW}" ON "phones_phone" ("account_id", "id")',
        f'DROP INDEX{{concurrently}} IF EXISTS "{OLD}"',
    )


def backward(apps, schema_editor) -> None:
    _run(
        schema_editor,
        f'CREATE INDEX{{concurrently}} IF NOT EXISTS "{OLD}" ON "phones_phone" ("account_id")',
        f'DROP INDEX{{concurrently}} IF EXISTS "{NEW}"',
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("phones", "0006_sync_queue_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="phone", name="account_id", field=models.BigIntegerField()),
                migrations.AddIndex(
                    model_name="phone", index=models.Index(fields=["account_id", "id"], name="phone_account_idx")
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
