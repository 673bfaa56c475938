"""What the access and operator events record, received from where they happen.

Sources: Django's auth signals (``user_logged_in``: the admin's sign-in and ``POST /auth/token``,
which sends it; ``user_logged_out``; ``user_login_failed``), django-axes (``user_locked_out``, and
an attempt record at the lockout limit deleted: the lockout lifted, by ``axes_reset*`` or the
cool-off), the core app's signals (``backoffice.access_signals``: operators saved by the
services, passwords saved from any path, role-matrix edits in the roles admin, refresh tokens
signed out, a lockout lifted by an operator manager) and the phones admin's CSV export
(``record_phones_export``). Each is written by ``audit.access.record_access`` in the transaction
of the change it records, when there is one.

Who acted: the operator the source names, else the request's signed-in operator, else (outside a
request) the command line's user (``command_actor``). From where: the request's (origin ``CRM``
under the admin, ``API`` elsewhere, ``COMMAND`` without a request). No secret is recorded: a
failed sign-in keeps the email typed, truncated, and the client address, never the password.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete
from django.http import HttpRequest
from django.urls import reverse

from audit.access import record_access
from audit.models import AuditEvent, Origin
from audit.services import AuditContext
from backoffice import access_signals
from backoffice.access_signals import current_request, lifting_lockout_now, operator_snapshot
from backoffice.actor import Actor

# A failed sign-in keeps this much of what was typed as the email: enough to tell whose account
# was tried, little of a password typed into the wrong field.
TYPED_EMAIL_KEPT = 64


def command_actor() -> Actor:
    """Outside a request: the operating-system user who ran the command, on which host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (some containers)
        user = "unknown"
    return Actor(id=None, email=f"command:{user}@{socket.gethostname()}"[:254])


def _origin(request: HttpRequest | None) -> str:
    if request is None:
        return Origin.COMMAND
    return Origin.CRM if request.path.startswith(reverse("admin:index")) else Origin.API


def _context(request: HttpRequest | None) -> AuditContext:
    if request is None:
        return AuditContext(origin=Origin.COMMAND)
    return AuditContext.from_request(request, origin=_origin(request))


def _operation(request: HttpRequest | None) -> tuple[str, str]:
    return ("", "") if request is None else (request.method or "", request.path[:200])


def _acting(user: Any, request: HttpRequest | None) -> Actor:
    """``user`` when given, else the request's operator, else the command line's user."""
    if user is None and request is not None:
        user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return Actor.of(user)
    if request is None:
        return command_actor()
    return Actor(id=None, email="")


def _record(
    event: str,
    *,
    request: HttpRequest | None,
    actor: Actor,
    obj: dict[str, Any],
    changes: dict[str, list[Any]] | None = None,
) -> None:
    record_access(
        actor=actor,
        event=event,
        context=_context(request),
        obj=obj,
        changes=changes,
        operation=_operation(request),
    )


def _subject(operator: Any, roles: list[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
    found = list(roles) if roles is not None else sorted(operator.groups.values_list("name", flat=True))
    return {"operator_id": operator.pk, "email": operator.email, "roles": found}


def _typed(credentials: Mapping[str, Any] | None, username: str | None = None) -> str:
    typed = username if username is not None else (credentials or {}).get("username") or ""
    return str(typed).strip().lower()[:TYPED_EMAIL_KEPT]


# --- Django's and django-axes' signals ----------------------------------------------------------
def _served(request: HttpRequest | None) -> bool:
    """Is this a request the product serves (through ``RequestContextMiddleware``)? Django's auth
    signals are recorded only then: an operator signs in, fails or signs out at the admin or the
    API; code that makes or ends a session itself (the test client's ``force_login``/``logout``,
    a shell) signs nobody in at either, and its fake request has no address or request id."""
    return request is not None and request is current_request()


def signed_in(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if not _served(request):
        return
    actor = _acting(user, request)
    _record(AuditEvent.OPERATOR_SIGNED_IN, request=request, actor=actor, obj=_subject(user, actor.roles))


def signed_out(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if not _served(request) or user is None or not getattr(user, "is_authenticated", False):
        return  # a sign-out without a session signs nobody out
    actor = _acting(user, request)
    _record(AuditEvent.OPERATOR_SIGNED_OUT, request=request, actor=actor, obj=_subject(user, actor.roles))


def sign_in_failed(sender: Any, credentials: Mapping[str, Any], request: HttpRequest | None = None, **_: Any) -> None:
    if not _served(request):
        return
    typed = _typed(credentials)
    address = getattr(request, "client_ip", None)
    _record(
        AuditEvent.OPERATOR_SIGN_IN_FAILED,
        request=request,
        actor=Actor(id=None, email=typed),
        obj={"email": typed, "ip_address": address},
    )


def locked_out(
    sender: Any, request: HttpRequest | None, username: str | None, ip_address: str | None, **_: Any
) -> None:
    """django-axes refused a sign-in: at the attempt that reached the limit, and at each attempt
    made while the lockout lasts (each also records its failed sign-in)."""
    typed = _typed(None, username or "")
    _record(
        AuditEvent.OPERATOR_LOCKED_OUT,
        request=request,
        actor=Actor(id=None, email=typed),
        obj={"email": typed, "ip_address": ip_address, "failures": settings.AXES_FAILURE_LIMIT},
    )


def lockout_lifted(sender: Any, instance: Any, **_: Any) -> None:
    """An axes attempt record deleted: a lockout lifted when it had reached the limit (by
    ``axes_reset*``, or its cool-off cleaned up at a later sign-in attempt)."""
    if instance.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return  # a count reset by a successful sign-in, or cleaned before it locked anything
    if lifting_lockout_now():
        return  # an operator manager's unlock: recorded once, by ``operator_unlocked``
    request = current_request()
    typed = _typed(None, instance.username or "")
    _record(
        AuditEvent.OPERATOR_UNLOCKED,
        request=request,
        actor=_acting(None, request),
        obj={"email": typed, "ip_address": instance.ip_address, "failures": instance.failures_since_start},
    )


# --- The core app's signals ----------------------------------------------------------------------
def operator_saved(
    sender: Any, actor: Any, operator: Any, created: bool, before: dict[str, Any] | None, **_: Any
) -> None:
    """An operator created, or changed: one entry per kind of change (roles granted or revoked,
    deactivated, anything else changed), each with its ``changes`` old -> new."""
    request = current_request()
    who = _acting(actor, request)
    after = operator_snapshot(operator)
    subject = {"operator_id": operator.pk, "email": operator.email, "roles": after["roles"]}
    if created or before is None:
        obj = {**subject, **{key: after[key] for key in ("full_name", "is_active", "is_superuser")}}
        _record(AuditEvent.OPERATOR_CREATED, request=request, actor=who, obj=obj)
        return
    if before["roles"] != after["roles"]:
        granted = sorted(set(after["roles"]) - set(before["roles"]))
        revoked = sorted(set(before["roles"]) - set(after["roles"]))
        _record(
            AuditEvent.OPERATOR_ROLES_CHANGED,
            request=request,
            actor=who,
            obj={**subject, "roles_granted": granted, "roles_revoked": revoked},
            changes={"roles": [before["roles"], after["roles"]]},
        )
    if before["is_active"] and not after["is_active"]:
        _record(
            AuditEvent.OPERATOR_DEACTIVATED,
            request=request,
            actor=who,
            obj={**subject, "is_active": False},
            changes={"is_active": [True, False]},
        )
    other = {
        key: [before[key], after[key]]
        for key in ("full_name", "is_active", "is_superuser")
        if before[key] != after[key] and not (key == "is_active" and not after[key])
    }
    if other:
        obj = {**subject, **{key: after[key] for key in other}}
        _record(AuditEvent.OPERATOR_CHANGED, request=request, actor=who, obj=obj, changes=other)


def password_changed(sender: Any, operator: Any, **_: Any) -> None:
    """A password set or disabled, by whatever path (the admin, an operator's own change,
    ``changepassword``, ``create_operator --password``): who set it is the request's operator,
    or the command line's user. Nothing of the password is recorded."""
    request = current_request()
    _record(
        AuditEvent.OPERATOR_PASSWORD_CHANGED,
        request=request,
        actor=_acting(None, request),
        obj=_subject(operator),
    )


def role_permissions_changed(
    sender: Any, actor: Any, role: Any, added: list[str], removed: list[str], **_: Any
) -> None:
    if not added and not removed:
        return
    request = current_request()
    _record(
        AuditEvent.ROLE_PERMISSIONS_CHANGED,
        request=request,
        actor=_acting(actor, request),
        obj={"role": role.name, "permissions_added": added, "permissions_removed": removed},
    )


def refresh_token_revoked(sender: Any, operator_id: int | None, **_: Any) -> None:
    """``POST /auth/logout``: its refresh token blacklisted. The caller is anonymous (the token is
    the credential): the entry names the token's operator."""
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.filter(pk=operator_id).first()
    if operator is None:
        return  # an operator removed since: nothing to name (operators are never deleted here)
    request = current_request()
    actor = Actor.of(operator)
    obj = {**_subject(operator, actor.roles), "refresh_token_revoked": True}
    _record(AuditEvent.OPERATOR_SIGNED_OUT, request=request, actor=actor, obj=obj)


def mfa_changed(sender: Any, actor: Any, operator: Any, action: str, **_: Any) -> None:
    """An authenticator enrolled (by the operator) or every one reset (by a manager): nothing of
    the secret or the recovery codes is recorded."""
    request = current_request()
    event = AuditEvent.OPERATOR_MFA_ENROLLED if action == "enrolled" else AuditEvent.OPERATOR_MFA_RESET
    _record(event, request=request, actor=_acting(actor, request), obj=_subject(operator))


def api_key_changed(sender: Any, actor: Any, key: Any, action: str, **_: Any) -> None:
    """A service account's key issued or revoked: its prefix and name, never its secret."""
    request = current_request()
    event = AuditEvent.API_KEY_ISSUED if action == "issued" else AuditEvent.API_KEY_REVOKED
    obj = {
        **_subject(key.operator),
        "key_prefix": key.prefix,
        "key_name": key.name,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }
    _record(event, request=request, actor=_acting(actor, request), obj=obj)


def operator_unlocked(sender: Any, actor: Any, operator: Any, failures: int, **_: Any) -> None:
    """An operator manager lifted an operator's sign-in lockout: who unlocked whom, and the failed
    sign-ins cleared (from every address and spelling of its email)."""
    request = current_request()
    obj = {**_subject(operator), "failures": failures}
    _record(AuditEvent.OPERATOR_UNLOCKED, request=request, actor=_acting(actor, request), obj=obj)


# --- The CSV export -------------------------------------------------------------------------------
def record_phones_export(request: HttpRequest, *, selection: str, row_count: int) -> None:
    """A CSV export of phones, recorded before the file streams (no export goes unrecorded, even
    one the client abandons): the list's query string it applied and the rows it holds."""
    query = {key: request.GET.getlist(key) for key in sorted(request.GET)}
    _record(
        AuditEvent.PHONES_EXPORTED,
        request=request,
        actor=_acting(None, request),
        obj={"selection": selection, "filter": query, "row_count": row_count},
    )


def connect_receivers() -> None:
    from axes.models import AccessAttempt
    from axes.signals import user_locked_out

    user_logged_in.connect(signed_in, dispatch_uid="audit-signed-in")
    user_logged_out.connect(signed_out, dispatch_uid="audit-signed-out")
    user_login_failed.connect(sign_in_failed, dispatch_uid="audit-sign-in-failed")
    user_locked_out.connect(locked_out, dispatch_uid="audit-locked-out")
    post_delete.connect(lockout_lifted, sender=AccessAttempt, dispatch_uid="audit-lockout-lifted")
    access_signals.operator_saved.connect(operator_saved, dispatch_uid="audit-operator-saved")
    access_signals.password_changed.connect(password_changed, dispatch_uid="audit-password-changed")
    access_signals.role_permissions_changed.connect(role_permissions_changed, dispatch_uid="audit-role-permissions")
    access_signals.refresh_token_revoked.connect(refresh_token_revoked, dispatch_uid="audit-refresh-revoked")
    access_signals.mfa_changed.connect(mfa_changed, dispatch_uid="audit-mfa-changed")
    access_signals.api_key_changed.connect(api_key_changed, dispatch_uid="audit-api-key-changed")
    access_signals.operator_unlocked.connect(operator_unlocked, dispatch_uid="audit-operator-unlocked")
