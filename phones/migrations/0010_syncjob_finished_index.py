"""Finished sync jobs by their finish time, carrying the status: the dashboard's outcomes per day
(a range of finish times grouped by day and status) read from the index alone. Open jobs have no
finish time and stay out of it. Built CONCURRENTLY on PostgreSQL (no write lock on the job table
while it builds), hence a non-atomic migration.
"""

from django.db import migrations, models

NAME = "syncjob_finished_idx"


def forward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{NAME}" ON "phones_syncjob" ("finished_at") '
            'INCLUDE ("status") WHERE "finished_at" IS NOT NULL'
        )
    else:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "phones_syncjob" ("finished_at") WHERE "finished_at" IS NOT NULL'
        )


def backward(apps, schema_editor) -> None:
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'DROP INDEX{concurrently} IF EXISTS "{NAME}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("phones", "0009_duplicates_by_e164"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="syncjob",
                    index=models.Index(
                        fields=["finished_at"],
                        include=["status"],
                        name=NAME,
                        condition=models.Q(finished_at__isnull=False),
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
