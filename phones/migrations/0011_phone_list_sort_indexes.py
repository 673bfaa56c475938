"""Indexes for the admin's phone list sorted by type, status (active) or updated time, and
filtered by updated time: (column, id), read forwards or backwards with the tie-break in the
column's direction (``backoffice.admin_base.IndexOrderedMixin``), so a page of 50 stops at 50
rows instead of sorting a million. Built CONCURRENTLY on PostgreSQL (no write lock on a large
table), hence a non-atomic migration.
"""

from django.db import migrations, models

INDEXES = {
    "phone_type_idx": ("type", "id"),
    "phone_active_idx": ("active", "id"),
    "phone_updated_idx": ("updated_at", "id"),
}


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def forward(apps, schema_editor) -> None:
    for name, columns in INDEXES.items():
        quoted = ", ".join(f'"{column}"' for column in columns)
        schema_editor.execute(
            f'CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS "{name}" ON "phones_phone" ({quoted})'
        )


def backward(apps, schema_editor) -> None:
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX{_concurrently(schema_editor)} IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("phones", "0010_syncjob_finished_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="phone", index=models.Index(fields=list(columns), name=name))
                for name, columns in INDEXES.items()
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
