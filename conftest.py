"""Suite-wide set-up: real services in CI, contract validation of every audit payload."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import jsonschema
import pytest

CI = os.environ.get("CI", "").lower() == "true"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not CI:
        return
    # In CI the suite runs against the real services, never SQLite: fail loudly otherwise.
    problems = []
    if not database_url.startswith(("postgres://", "postgresql://")):
        problems.append(f"DATABASE_URL must point at PostgreSQL in CI (got {database_url or 'nothing'})")
    elif not _reachable(database_url, 5432):
        problems.append(f"PostgreSQL is not reachable at {database_url}")
    if not redis_url.startswith("redis://"):
        problems.append(f"REDIS_URL must point at Redis in CI (got {redis_url or 'nothing'})")
    elif not _reachable(redis_url, 6379):
        problems.append(f"Redis is not reachable at {redis_url}")
    if problems:
        raise pytest.UsageError("CI=true but the real services are missing:\n  " + "\n  ".join(problems))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    redis_url = os.environ.get("REDIS_URL", "")
    has_redis = bool(redis_url) and _reachable(redis_url, 6379)
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis (set REDIS_URL)"))


# --- Transactional tests' flush past the audit table's TRUNCATE guard -------------------------
# The audit table refuses TRUNCATE (audit migration 0006), and Django empties the database after
# each transactional test with one TRUNCATE of every table. The flush switches that trigger off
# for its own transaction only, as the table's owner (the suite's role) may: the row triggers and
# every other table's triggers (e.g. the role matrix version's upsert) still fire, and the guard
# is back on when the flush commits (audit/tests/test_integrity.py proves both).
AUDIT_TRUNCATE_GUARD = 'ALTER TABLE "audit_auditentry" {} TRIGGER "audit_entry_no_truncate"'


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_truncate_guard() -> Iterator[None]:
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self: DatabaseOperations, style: object, tables: list[str], **kwargs: bool) -> list[str]:
        statements = original(self, style, tables, **kwargs)
        if not statements:
            return statements
        # Django runs these in one transaction (execute_sql_flush).
        return [AUDIT_TRUNCATE_GUARD.format("DISABLE"), *statements, AUDIT_TRUNCATE_GUARD.format("ENABLE")]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


# --- Every audit payload written anywhere in the suite must satisfy the contract schema -------
_payload_errors: list[str] = []
VALIDATED = {"count": 0}


@pytest.fixture(scope="session", autouse=True)
def _validate_audit_payloads() -> Iterator[None]:
    from django.db.models.signals import post_save

    from audit.events import event_schema
    from audit.models import AuditEntry

    def check(sender: type, instance: AuditEntry, created: bool, **_: object) -> None:
        try:
            schema = event_schema(instance.event)
        except (KeyError, ValueError):
            return  # events outside the contract (e.g. sync outcomes) have their own tests
        VALIDATED["count"] += 1
        for error in jsonschema.Draft7Validator(schema).iter_errors(instance.payload):
            _payload_errors.append(f"{instance.event}: {error.message} at {list(error.absolute_path)}")

    post_save.connect(check, sender=AuditEntry, dispatch_uid="test-audit-contract")
    yield
    post_save.disconnect(dispatch_uid="test-audit-contract")


@pytest.fixture(autouse=True)
def _no_invalid_audit_payload() -> Iterator[None]:
    _payload_errors.clear()
    yield
    assert not _payload_errors, "audit payloads violate the contract schema:\n" + "\n".join(_payload_errors)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(f"audit payloads validated against the contract schemas: {VALIDATED['count']}")


# --- Operators and API clients ---------------------------------------------------------------
@pytest.fixture
def make_operator(db: None) -> Callable[..., object]:
    from backoffice.roles import seed_role_matrix
    from backoffice.tests.factories import OperatorFactory

    # Transactional tests flush the groups the migration seeded.
    seed_role_matrix()

    def make(*roles: str, **kwargs: object) -> object:
        return OperatorFactory(roles=list(roles), **kwargs)

    return make


@pytest.fixture
def api_client_for() -> Callable[[object], object]:
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(user: object) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        return client

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: object) -> None:
    # PBKDF2's deliberate slowness is for production; tests make hundreds of operators.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _project_language_and_zone() -> Iterator[None]:
    """Each test starts in the project's language and zone (English, UTC). The admin's middleware
    leaves an operator's in force on its thread after a response (a streamed export still needs
    them), so a test after an admin request read times in its operator's zone: a status test saw
    "pending since 11:50" for 14:50 UTC, depending on the order the tests ran in."""
    from django.utils import timezone, translation

    timezone.deactivate()
    translation.deactivate()
    yield
