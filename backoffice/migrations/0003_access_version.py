"""The role matrix version (``backoffice.models.AccessVersion``) and, on PostgreSQL, the
statement triggers that change it with every change to roles, permissions or content types."""

from django.db import migrations, models

WATCHED = ("auth_group", "auth_group_permissions", "auth_permission", "django_content_type")

INSTALL = """
CREATE SEQUENCE IF NOT EXISTS backoffice_accessversion_seq;
CREATE OR REPLACE FUNCTION backoffice_bump_access_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An upsert: a flush (TRUNCATE of every table, as test databases get) must not leave the
    -- row missing, or every request would reload the matrix.
    INSERT INTO backoffice_accessversion (id, version) VALUES (1, nextval('backoffice_accessversion_seq'))
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END
$$;
"""
TRIGGER = """
CREATE TRIGGER backoffice_access_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION backoffice_bump_access_version();
"""
UNINSTALL = """
DROP FUNCTION IF EXISTS backoffice_bump_access_version() CASCADE;
DROP SEQUENCE IF EXISTS backoffice_accessversion_seq;
"""


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(INSTALL)
        for table in WATCHED:
            schema_editor.execute(TRIGGER.format(table=connection.ops.quote_name(table)))
        schema_editor.execute(
            "INSERT INTO backoffice_accessversion (id, version) VALUES (1, nextval('backoffice_accessversion_seq'))"
        )
    else:
        # No triggers here (SQLite, the local run): the operator query reads roles directly.
        apps.get_model("backoffice", "AccessVersion").objects.create(id=1, version=0)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_seed_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessVersion",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name": "role matrix version"},
        ),
        migrations.RunPython(install, uninstall),
    ]
