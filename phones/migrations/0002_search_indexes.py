"""Trigram indexes so "any part of the number" searches stay fast at millions of phones.

PostgreSQL only (pg_trgm); SQLite, used for the local run, scans its small demo table.
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS phone_number_digits_trgm ON phones_phone USING gin (number_digits gin_trgm_ops);
CREATE INDEX IF NOT EXISTS phone_e164_trgm ON phones_phone USING gin (e164 gin_trgm_ops);
"""
BACKWARD = """
DROP INDEX IF EXISTS phone_number_digits_trgm;
DROP INDEX IF EXISTS phone_e164_trgm;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("phones", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
