"""Drop the single-column index Django made for ``AuditEntry.phone``: ``audit_phone_idx``
(phone, -id) serves every lookup by phone, and the extra index only cost each insert.

Only the index goes; the foreign key constraint stays as it is (``AlterField`` would drop and
re-add it, re-validating every entry under lock)."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "audit_auditentry_phone_id_dea70aa2"


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_sync_events"),
        ("phones", "0006_sync_queue_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditentry",
                    name="phone",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_entries",
                        to="phones.phone",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "audit_auditentry" ("phone_id")',
                ),
            ],
        ),
    ]
