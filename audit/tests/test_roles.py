"""The production role set-up on the real PostgreSQL: the application's role writes entries and
cannot undo the guards. The roles are this suite's own and dropped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from phones.tests.factories import PhoneFactory

OWNER, APP = "h5_test_owner", "h5_test_app"

INSERT_ENTRY = """
INSERT INTO audit_auditentry (event, domain, version, payload, changes, phone_id, account_id, operator_email,
    operator_roles, origin, request_id, created_at, prev_hash, hash)
VALUES ('phone_change', 'audit', 1, '{}', '{}', NULL, 1, 'app@example.com', '[]', 'API', '', now(), '', 'x')
RETURNING id
"""

REFUSED = [
    "UPDATE audit_auditentry SET origin = 'CRM'",
    "DELETE FROM audit_auditentry",
    "TRUNCATE audit_auditentry",
    "TRUNCATE phones_phone CASCADE",
    "ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only",
    "ALTER TABLE audit_auditentry DISABLE TRIGGER USER",
    "DROP TRIGGER audit_entry_append_only ON audit_auditentry",
    "DROP TRIGGER audit_entry_no_truncate ON audit_auditentry",
    "DROP TABLE audit_auditentry CASCADE",
    "ALTER TABLE audit_auditentry OWNER TO h5_test_app",
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NEW; END $$",
    "SET session_replication_role = replica",  # would silence every trigger of the session
    "SET ROLE h5_test_owner",
]


def _drop_roles() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolname IN (%s, %s)", [OWNER, APP])
        present = [name for (name,) in cursor.fetchall()]
        for role in present:  # the tables, the database and the functions back to the suite's role
            cursor.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
        for role in present:
            cursor.execute(f"DROP OWNED BY {role}")  # grants and default privileges
        for role in present:
            cursor.execute(f"DROP ROLE {role}")


@pytest.fixture
def roles(transactional_db: None) -> Iterator[None]:
    _drop_roles()  # a run that died half-way
    yield
    _drop_roles()


def connect_as(role: str) -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"] or "127.0.0.1",
        port=params["PORT"] or 5432,
        dbname=params["NAME"],
        user=role,
        autocommit=True,
    )


def test_role_names_are_plain_identifiers_and_two_roles():
    with pytest.raises(CommandError, match="not a role name"):
        call_command("audit_roles", "--owner", 'x"; DROP TABLE audit_auditentry; --', "--app", APP)
    with pytest.raises(CommandError, match="two different roles"):
        call_command("audit_roles", "--owner", APP, "--app", APP)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_superuser_is_never_taken_for_the_application_role(roles):
    with pytest.raises(CommandError, match="is a superuser"):
        call_command("audit_roles", "--owner", OWNER, "--app", connection.settings_dict["USER"] or "postgres")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [OWNER])
        assert cursor.fetchone()[0] == 0  # nothing was done


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_application_role_writes_entries_and_cannot_undo_the_guards(roles, make_operator):
    phone = PhoneFactory(actor=make_operator("crm-operator"))
    out = StringIO()
    call_command("audit_roles", "--owner", OWNER, "--app", APP, stdout=out)
    assert f"Created roles (LOGIN, no password): {OWNER}, {APP}." in out.getvalue()
    call_command("audit_roles", "--owner", OWNER, "--app", APP, stdout=out)  # again: nothing changes
    assert "Roles exist." in out.getvalue()

    with connect_as(APP) as app:
        assert app.execute(INSERT_ENTRY).fetchone()[0] > 0
        assert app.execute("SELECT count(*) FROM audit_auditentry").fetchone()[0] == 2
        # The rest of the schema is the application's to use.
        app.execute("UPDATE phones_phone SET extension = '7' WHERE id = %s", [phone.pk])
        app.execute("SELECT nextval(pg_get_serial_sequence('phones_phone', 'id'))")
        for sql in REFUSED:
            # Rolled back whatever happens: a statement that got through must not stay done.
            with pytest.raises(psycopg.errors.InsufficientPrivilege), app.transaction(force_rollback=True):
                app.execute(sql)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_userbyid(c.relowner), array_agg(t.tgname || ':' || t.tgenabled::text ORDER BY t.tgname) "
            "FROM pg_class c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal "
            "WHERE c.oid = 'audit_auditentry'::regclass GROUP BY c.relowner"
        )
        assert cursor.fetchone() == (OWNER, ["audit_entry_append_only:O", "audit_entry_no_truncate:O"])
        cursor.execute("SELECT count(*) FROM audit_auditentry")
        assert cursor.fetchone()[0] == 2
