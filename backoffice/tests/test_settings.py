"""The production settings path passes ``check --deploy`` when the environment gives real values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_silent_with_production_environment():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-production-secret-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "backoffice.bank.example",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:////tmp/deploy-check.sqlite3"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {"DEBUG": "false"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def _database_options(**extra: str) -> str:
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused", **extra}
    code = "from backoffice import settings; print(settings.DATABASES['default']['OPTIONS'])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_postgresql_options_prepare_statements_unless_turned_off():
    assert _database_options() == "{'server_side_binding': True, 'prepare_threshold': 5}"
    # Behind a transaction-mode pooler that cannot keep prepared statements.
    assert _database_options(DB_PREPARE_THRESHOLD="off") == "{'server_side_binding': True, 'prepare_threshold': None}"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_repeated_statement_is_prepared_on_the_server():
    from django.db import connection

    sql = "SELECT count(*) FROM phones_phone WHERE account_id = %s"
    with connection.cursor() as cursor:
        for account in range(6):
            cursor.execute(sql, [account])
            assert cursor.fetchone() == (0,)
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%phones_phone%"])
        prepared = [row[0] for row in cursor.fetchall()]
    assert prepared == ["SELECT count(*) FROM phones_phone WHERE account_id = $1"]
