"""On PostgreSQL the database refuses TRUNCATE of the audit table too.

``audit_entry_append_only`` (0003) fires for each row UPDATE or DELETE; a TRUNCATE fires no row
trigger, so it emptied the trail in one statement. A statement trigger on TRUNCATE (also when
another table's ``TRUNCATE ... CASCADE`` reaches this one) calls the same refusing function.
The test suite's flush of transactional tests switches it off around its own TRUNCATE
(``conftest.py``), as the table's owner can; the application's role cannot (``audit_roles``).
"""

from django.db import migrations

FORWARD = """
CREATE TRIGGER audit_entry_no_truncate
    BEFORE TRUNCATE ON audit_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only();
"""

BACKWARD = "DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_auditentry;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_drop_phone_fk_index")]
    operations = [migrations.RunPython(forward, backward)]
