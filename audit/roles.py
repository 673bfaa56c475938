"""PostgreSQL roles that keep the application's hands off the audit trail's guards.

The triggers that refuse UPDATE, DELETE and TRUNCATE of audit entries hold only against a role
that cannot switch them off: the table's owner can (``ALTER TABLE ... DISABLE TRIGGER``, ``DROP
TRIGGER``), and so can a superuser, or a member of the owner's role. So the schema belongs to an
owner role (migrations run as it) and the application (web, workers, beat) connects as another
role that owns nothing, is no superuser and no member of the owner, and holds only:

- on ``audit_auditentry``: SELECT and INSERT (no UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES);
- on every other table: SELECT, INSERT, UPDATE, DELETE (never TRUNCATE or TRIGGER);
- on sequences: USAGE and SELECT (``nextval``; never ``setval``);
- on the schema: USAGE only (it creates nothing).

``set_up_roles`` does it all in one transaction and may be run again at any time (after every
``migrate``: tables a migration creates get the application's grants by default privileges, and
a rerun puts the audit table's back to SELECT, INSERT). It must run as a superuser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.backends.utils import CursorWrapper

AUDIT_TABLE = "audit_auditentry"
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# What a role must not be able to do on its own: bypass privileges, make roles (and so grant itself
# the owner's membership), or replicate (session_replication_role switches triggers off).
ROLE_POWERS = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")


class RoleSetupError(Exception):
    """The roles cannot be set up as asked; nothing was changed."""


@dataclass(frozen=True)
class RoleSetup:
    owner: str
    app: str
    owner_created: bool
    app_created: bool
    tables: int


def check_role_names(owner: str, app: str) -> None:
    """Plain lower-case identifiers only (they are written into SQL), and two different roles."""
    for name in (owner, app):
        if not ROLE_NAME.fullmatch(name) or name.startswith("pg_"):
            raise RoleSetupError(f"{name!r} is not a role name this command makes: a-z, 0-9 and _, 63 at most")
    if owner == app:
        raise RoleSetupError("the owner and the application need two different roles")


def _role(cursor: CursorWrapper, name: str) -> dict[str, bool] | None:
    cursor.execute(f"SELECT {', '.join(ROLE_POWERS)} FROM pg_roles WHERE rolname = %s", [name])
    row = cursor.fetchone()
    return None if row is None else dict(zip(ROLE_POWERS, row, strict=True))


def _ensure_role(cursor: CursorWrapper, name: str) -> bool:
    if _role(cursor, name) is not None:
        return False
    cursor.execute(f'CREATE ROLE "{name}" LOGIN')
    return True


def set_up_roles(*, owner: str, app: str, using: str = "default") -> RoleSetup:
    """Make ``owner`` own the database, its tables, sequences, views and functions, and give
    ``app`` what the application needs and nothing that could undo the audit guards."""
    check_role_names(owner, app)
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise RoleSetupError("roles exist on PostgreSQL only")
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            raise RoleSetupError("run it as a superuser: it moves ownership and creates roles")
        existing_app = _role(cursor, app)
        if existing_app is not None and existing_app["rolsuper"]:
            # Never demote a superuser on the way: pick a role that is only the application.
            raise RoleSetupError(f"{app} is a superuser: the application needs a role of its own")
        owner_created = _ensure_role(cursor, owner)
        app_created = _ensure_role(cursor, app)
        cursor.execute(f'ALTER ROLE "{app}" LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS')
        cursor.execute(
            "SELECT quote_ident(r.rolname) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            [app],
        )
        for (granted,) in cursor.fetchall():
            # Whatever roles it was given (the owner's, an old owner's), it inherits no ownership.
            cursor.execute(f'REVOKE {granted} FROM "{app}"')

        # Names as the catalogue quotes them (they go into statements as they are).
        cursor.execute(
            "SELECT quote_ident(current_database()), quote_ident(n.nspname), n.nspowner::regrole::text "
            "FROM pg_namespace n WHERE n.nspname = current_schema()"
        )
        database, schema, schema_owner = cursor.fetchone()
        cursor.execute(f'ALTER DATABASE {database} OWNER TO "{owner}"')
        if schema_owner != "pg_database_owner":  # else the database's owner owns it already
            cursor.execute(f'ALTER SCHEMA {schema} OWNER TO "{owner}"')
        tables = _move_ownership(cursor, schema=schema, owner=owner)

        cursor.execute(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC")
        cursor.execute(f'GRANT USAGE ON SCHEMA {schema} TO "{app}"')
        cursor.execute(f'GRANT CONNECT ON DATABASE {database} TO "{app}"')
        cursor.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM "{app}"')
        cursor.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM "{app}"')
        cursor.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO "{app}"')
        cursor.execute(f'REVOKE UPDATE, DELETE ON {schema}.{AUDIT_TABLE} FROM "{app}"')
        cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO "{app}"')
        # Tables the owner's migrations create later are usable at once; rerun this after them.
        defaults = f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA {schema}'
        cursor.execute(f'{defaults} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{app}"')
        cursor.execute(f'{defaults} GRANT USAGE, SELECT ON SEQUENCES TO "{app}"')
        _check(cursor, schema=schema, owner=owner, app=app)
    return RoleSetup(owner=owner, app=app, owner_created=owner_created, app_created=app_created, tables=tables)


# Relations and routines of the schema, except those of extensions (pg_trgm's belong to it) and
# sequences that belong to a column (they follow their table).
_RELATIONS = """
SELECT c.oid::regclass::text, c.relkind FROM pg_class c
WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype IN ('e', 'a', 'i'))
ORDER BY 1
"""
_ROUTINES = """
SELECT p.oid::regprocedure::text FROM pg_proc p
WHERE p.pronamespace = %s::regnamespace AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
ORDER BY 1
"""
_ALTER = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


def _move_ownership(cursor: CursorWrapper, *, schema: str, owner: str) -> int:
    """The owner takes every relation and routine (the trigger functions: whoever owns one may
    replace its body). Names come from the catalogue already quoted (``regclass``)."""
    cursor.execute(_RELATIONS, [schema])
    relations = cursor.fetchall()
    for name, kind in relations:
        cursor.execute(f'ALTER {_ALTER[kind]} {name} OWNER TO "{owner}"')
    cursor.execute(_ROUTINES, [schema])
    for (routine,) in cursor.fetchall():
        cursor.execute(f'ALTER ROUTINE {routine} OWNER TO "{owner}"')
    return sum(kind in "rpf" for _, kind in relations)


def _check(cursor: CursorWrapper, *, schema: str, owner: str, app: str) -> None:
    """Read back what matters, so a catalogue surprise fails the set-up instead of passing it."""
    table = f"{schema}.{AUDIT_TABLE}"
    cursor.execute(
        "SELECT pg_get_userbyid(c.relowner), pg_has_role(%s, c.relowner, 'MEMBER'), "
        # Several privileges in one call: true when any is held.
        "has_table_privilege(%s, c.oid, 'UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES'), "
        "has_table_privilege(%s, c.oid, 'SELECT') AND has_table_privilege(%s, c.oid, 'INSERT') "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        [app, app, app, app, table],
    )
    table_owner, app_owns, app_may_change, app_may_write = cursor.fetchone()
    powers = _role(cursor, app) or {}
    if table_owner != owner or app_owns or app_may_change or not app_may_write or any(powers.values()):
        raise RoleSetupError(
            f"{table} ended up owned by {table_owner}; {app}: owner's rights {app_owns}, may change entries "
            f"{app_may_change}, may write them {app_may_write}, powers {[k for k, v in powers.items() if v]}"
        )
