"""Signals of access and operator changes, sent where they happen, for the audit trail to record.

The core app imports no feature app (import-linter's ``core-imports-no-feature``), so operators,
roles and tokens cannot call the audit writer: they send these signals, synchronously and inside
the transaction of the change, and ``audit.access_events`` records them (a rolled-back change
leaves no entry; an entry that cannot be written rolls the change back). Django's own
``user_logged_in``/``user_logged_out``/``user_login_failed`` and django-axes' ``user_locked_out``
are received there too.

``current_request`` is the request being served (set by ``RequestContextMiddleware``), for the
receivers of a change whose code has no request at hand (a password saved by Django's forms):
who acts, from where, under which request id. Outside a request (a command) it is None.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.dispatch import Signal
from django.http import HttpRequest

# operator_saved(actor: User | None, operator: User, created: bool, before: dict | None): an
# operator created or changed by a service; ``before`` is its ``operator_snapshot`` before.
operator_saved = Signal()
# password_changed(operator: User): a new (or disabled) password saved, from any path.
password_changed = Signal()
# role_permissions_changed(actor: User, role: Group, added: list[str], removed: list[str]).
role_permissions_changed = Signal()
# refresh_token_revoked(operator_id: int | None): a refresh token signed out (``POST /auth/logout``).
refresh_token_revoked = Signal()
# mfa_changed(actor: User, operator: User, action: "enrolled" | "reset"): ``backoffice.mfa``.
mfa_changed = Signal()
# api_key_changed(actor: User | None, key: ApiKey, action: "issued" | "revoked"): a service
# account's key (``backoffice.service_accounts``); never the key itself.
api_key_changed = Signal()
# operator_unlocked(actor: User, operator: User, failures: int): a manager lifted an
# operator's sign-in lockout (``backoffice.lockouts.unlock_operator``); ``failures``: the failed
# sign-ins cleared.
operator_unlocked = Signal()

_current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)
# True while ``lockouts.unlock_operator`` deletes an operator's axes records: its own
# ``operator_unlocked`` is the one entry, not one per record deleted.
_lifting_lockout: ContextVar[bool] = ContextVar("lifting_lockout", default=False)


def current_request() -> HttpRequest | None:
    return _current_request.get()


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def lifting_lockout_now() -> bool:
    return _lifting_lockout.get()


@contextmanager
def lifting_lockout() -> Iterator[None]:
    token = _lifting_lockout.set(True)
    try:
        yield
    finally:
        _lifting_lockout.reset(token)


def operator_snapshot(operator: Any) -> dict[str, Any]:
    """What an operator entry records of an operator: no password, no token version."""
    return {
        "full_name": operator.full_name,
        "is_active": operator.is_active,
        "is_superuser": operator.is_superuser,
        "roles": sorted(operator.groups.values_list("name", flat=True)),
    }
