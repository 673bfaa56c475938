"""The production settings path passes ``check --deploy`` when the environment gives real values,
and refuses to start on public or shared secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backoffice.production import LOCAL_SECRET_KEY, SIMULATOR_CREDENTIALS, production_problems

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET_KEY = "k" * 20 + "-production-secret-with-enough-entropy-0123456789"
# What a deployment gives: its own keys and the real providers' credentials.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": REAL_SECRET_KEY,
    "AUDIT_HMAC_KEY": "audit-chain-key-kept-apart-from-the-database-backups",
    "ALLOWED_HOSTS": "backoffice.bank.example",
    "SINCH_KEY_ID": "key-id-from-the-sinch-dashboard",
    "SINCH_KEY_SECRET": "key-secret-from-the-sinch-dashboard",
    "SINCH_CALLBACK_SECRET": "callback-secret-from-the-sinch-dashboard",
    "PLIVO_AUTH_ID": "MAREALACCOUNT000000001",
    "PLIVO_AUTH_TOKEN": "token-from-the-plivo-console",
}
# The suite's own DEBUG=true (pyproject.toml) and anything a developer exported must not leak in.
UNSET = ("DEBUG", "SECRET_KEY", "AUDIT_HMAC_KEY", "PROVIDER_SIMULATOR", *SIMULATOR_CREDENTIALS)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in UNSET} | {
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:////tmp/deploy-check.sqlite3"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_is_silent_with_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = manage("check", **{k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_debug_is_off_unless_set():
    """A deployment that forgets DEBUG gets the production settings (and so must give a key)."""
    result = manage("check")
    assert result.returncode != 0 and "SECRET_KEY must be set when DEBUG is off" in result.stderr
    code = "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)"
    shell = manage("shell", "-c", code, **{k: v for k, v in PRODUCTION.items() if k != "DEBUG"})
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.split()[-2:] == ["False", "True"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"SECRET_KEY": LOCAL_SECRET_KEY}, "SECRET_KEY is the public local-development key"),
        ({"SECRET_KEY": "short-key"}, "SECRET_KEY is too weak"),
        ({"AUDIT_HMAC_KEY": REAL_SECRET_KEY}, "AUDIT_HMAC_KEY must be set, and differ from SECRET_KEY"),
        ({"AUDIT_HMAC_KEY": ""}, "AUDIT_HMAC_KEY must be set"),  # unset: it defaults to SECRET_KEY
        ({"SINCH_KEY_SECRET": "sim-key-secret"}, "SINCH_KEY_SECRET still hold the provider simulator's"),
        ({"SINCH_CALLBACK_SECRET": "sim-callback-secret"}, "SINCH_CALLBACK_SECRET still hold"),
        ({"PLIVO_AUTH_TOKEN": "sim-plivo-token"}, "PLIVO_AUTH_TOKEN still hold"),
    ],
)
def test_production_refuses_to_start_on_public_or_shared_secrets(change, said):
    environment = {**PRODUCTION, **change}
    if change.get("AUDIT_HMAC_KEY") == "":
        del environment["AUDIT_HMAC_KEY"]
    result = manage("check", **environment)
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off" in result.stderr and said in result.stderr, result.stderr


def test_gunicorn_and_celery_refuse_to_start_too():
    """The refusal is at settings import, which gunicorn's and Celery's start go through (neither
    runs Django's system checks)."""
    environment = {k: v for k, v in os.environ.items() if k not in UNSET}
    environment |= {**PRODUCTION, "SECRET_KEY": LOCAL_SECRET_KEY}
    bin_dir = Path(sys.executable).parent
    for command in (
        [str(bin_dir / "gunicorn"), "--check-config", "backoffice.wsgi:application"],
        [str(bin_dir / "celery"), "-A", "backoffice", "report"],
    ):
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, command
        assert "SECRET_KEY is the public local-development key" in result.stdout + result.stderr, command


def test_the_simulators_credentials_are_accepted_when_the_deployment_says_it_uses_it():
    simulator = {k: v for k, v in PRODUCTION.items() if k not in SIMULATOR_CREDENTIALS}
    assert manage("check", **simulator).returncode != 0
    result = manage("check", **simulator, PROVIDER_SIMULATOR="true")
    assert result.returncode == 0, result.stderr


def test_production_problems_say_nothing_while_debug_is_on():
    settings = {
        "DEBUG": True,
        "SECRET_KEY": LOCAL_SECRET_KEY,
        "AUDIT_HMAC_KEY": LOCAL_SECRET_KEY,
        "PROVIDER_SIMULATOR": False,
        **SIMULATOR_CREDENTIALS,
    }
    assert production_problems(settings) == []
    assert len(production_problems({**settings, "DEBUG": False})) == 3


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
