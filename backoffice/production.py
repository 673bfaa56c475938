"""What a process running with ``DEBUG`` off refuses to start with. Pure: no Django import, so
that ``backoffice.settings`` can call it while it is being read.

Settings import is where the refusal lives because it is the one place every process goes
through before doing anything: gunicorn's workers, Celery's worker and beat, ``manage.py``.
Django's system checks would not do: gunicorn and Celery never run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Keys that are written in this repository, hence public: fine for a laptop, never for production.
LOCAL_SECRET_KEY = "insecure-local-development-key-change-me-in-production"
PUBLIC_SECRET_KEYS = frozenset({LOCAL_SECRET_KEY})

# The provider simulator's credentials (the settings' defaults, and what the simulator accepts).
SIMULATOR_CREDENTIALS: Mapping[str, str] = {
    "SINCH_KEY_ID": "sim-key-id",
    "SINCH_KEY_SECRET": "sim-key-secret",
    "SINCH_CALLBACK_SECRET": "sim-callback-secret",
    "PLIVO_AUTH_ID": "MASIMULATOR000000001",
    "PLIVO_AUTH_TOKEN": "sim-plivo-token",
}

# Django's own bar for a secret key (``check --deploy``, security.W009).
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5


def production_problems(settings: Mapping[str, Any]) -> list[str]:
    """Why these settings must not serve with ``DEBUG`` off (empty when they may).

    ``settings`` holds ``DEBUG``, ``SECRET_KEY``, ``AUDIT_HMAC_KEY``, ``PROVIDER_SIMULATOR`` and the
    names of ``SIMULATOR_CREDENTIALS``.
    """
    if settings["DEBUG"]:
        return []
    problems: list[str] = []
    secret_key = settings["SECRET_KEY"]
    if secret_key in PUBLIC_SECRET_KEYS:
        problems.append("SECRET_KEY is the public local-development key: set a secret one")
    elif len(secret_key) < SECRET_KEY_MIN_LENGTH or len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        problems.append(
            f"SECRET_KEY is too weak: at least {SECRET_KEY_MIN_LENGTH} characters and "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones"
        )
    audit_key = settings["AUDIT_HMAC_KEY"]
    if audit_key == secret_key:
        # One leaked key would then both forge sessions and re-seal an altered audit trail.
        problems.append("AUDIT_HMAC_KEY must be set, and differ from SECRET_KEY")
    elif audit_key in PUBLIC_SECRET_KEYS:
        problems.append("AUDIT_HMAC_KEY is the public local-development key: set a secret one")
    if not settings["PROVIDER_SIMULATOR"]:
        used = [name for name, value in SIMULATOR_CREDENTIALS.items() if settings[name] == value]
        if used:
            problems.append(
                f"{', '.join(used)} still hold the provider simulator's credentials: set the real "
                "ones (or PROVIDER_SIMULATOR=true when this deployment talks to the simulator)"
            )
    return problems
