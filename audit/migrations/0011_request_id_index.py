"""The audit list's search by request ID reads an index instead of every entry (it scanned:
180 ms at 200,000 entries, seconds at millions).

Built CONCURRENTLY on PostgreSQL (entries are written all the time), hence a non-atomic
migration; elsewhere a plain CREATE INDEX. A build that failed or was cancelled leaves an invalid
index: the migration run again drops it and builds it anew.
"""

from django.db import migrations, models
from django.db.models import Q

INDEX = models.Index(fields=["request_id", "-id"], name="audit_request_idx", condition=~Q(request_id=""))


def _options(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def _state(schema_editor, model) -> str:
    """ "missing", "valid", or "invalid": a CREATE INDEX CONCURRENTLY that failed or was cancelled
    leaves an invalid index behind, which every write maintains and no query uses."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if INDEX.name not in connection.introspection.get_constraints(cursor, model._meta.db_table):
            return "missing"
        if connection.vendor != "postgresql":
            return "valid"
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", [INDEX.name])
        return "valid" if cursor.fetchone()[0] else "invalid"


def forward(apps, schema_editor) -> None:
    model = apps.get_model("audit", "AuditEntry")
    state = _state(schema_editor, model)
    if state == "invalid":  # a build interrupted earlier: built again
        schema_editor.execute(INDEX.remove_sql(model, schema_editor, **_options(schema_editor)))
    if state != "valid":
        schema_editor.execute(INDEX.create_sql(model, schema_editor, **_options(schema_editor)))


def backward(apps, schema_editor) -> None:
    model = apps.get_model("audit", "AuditEntry")
    if _state(schema_editor, model) != "missing":
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
