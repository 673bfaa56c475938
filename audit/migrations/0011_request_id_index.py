"""The audit list's search by request ID reads an index instead of every entry (it scanned:
180 ms at 200,000 entries, seconds at millions).

Built CONCURRENTLY on PostgreSQL (entries are written all the time), hence a non-atomic
migration; elsewhere a plain CREATE INDEX.
"""

from django.db import migrations, models
from django.db.models import Q

INDEX = models.Index(fields=["request_id", "-id"], name="audit_request_idx", condition=~Q(request_id=""))


def _options(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def _exists(schema_editor, model) -> bool:
    constraints = schema_editor.connection.introspection.get_constraints(
        schema_editor.connection.cursor(), model._meta.db_table
    )
    return INDEX.name in constraints


def forward(apps, schema_editor) -> None:
    model = apps.get_model("audit", "AuditEntry")
    if not _exists(schema_editor, model):
        schema_editor.execute(INDEX.create_sql(model, schema_editor, **_options(schema_editor)))


def backward(apps, schema_editor) -> None:
    model = apps.get_model("audit", "AuditEntry")
    if _exists(schema_editor, model):
        schema_editor.execute(INDEX.remove_sql(model, schema_editor, **_options(schema_editor)))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0010_translatable_names")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="auditentry", index=INDEX)],
            database_operations=[migrations.RunPython(forward, backward, elidable=False)],
        ),
    ]
