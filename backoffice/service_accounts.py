"""Service accounts: internal tools that call the API with keys, not with a person's password.

A service account is an operator (``User.is_service_account``) with roles like any other, so what
it may do and how its changes are audited (its email and roles in every entry) are the same; it
has no usable password (``/auth/token`` and the admin refuse it) and no admin access. It
authenticates with ``Authorization: Api-Key <key>`` (``ApiKeyAuthentication``), one key per tool
or environment, each issued once (only its prefix and the SHA-256 of its secret are stored: the
secret is 256 random bits, so a fast hash is enough and a stolen table gives nobody a key),
optionally expiring, revoked individually. Deactivating the account stops all its keys.

Transactions: each function below is one transaction; nothing is sent anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from backoffice import access_signals
from backoffice.models import ApiKey, User
from backoffice.services import operator_upsert

KEYWORD = "Api-Key"
KEY_START = "bo"  # what a key starts with: "bo_<prefix>_<secret>", easy to spot in a leak scan


class ServiceAccountRefused(ValueError):
    """The request names a person, or an account that is not active: nothing was written."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def service_account_create(*, email: str, roles: Sequence[str], full_name: str = "") -> User:
    """Create (or update the roles of) a service account; refuses an email that is a person's."""
    existing = User.objects.filter(email=User.objects.normalize_email(email).lower()).first()
    if existing is not None and not existing.is_service_account:
        raise ServiceAccountRefused(f"{existing.email} is a person's operator account, not a service account.")
    with transaction.atomic():
        user, _ = operator_upsert(email=email, roles=roles, password=None, full_name=full_name)
        User.objects.filter(pk=user.pk).update(is_service_account=True, is_staff=False)
        user.refresh_from_db()
    return user


def api_key_issue(
    *,
    operator: User,
    name: str,
    issued_by: str = "",
    expires_at: datetime | None = None,
    actor: User | None = None,
) -> tuple[ApiKey, str]:
    """A new key for an active service account: returns the stored row and the key itself, which
    is shown once and never stored."""
    if not (operator.is_service_account and operator.is_active):
        raise ServiceAccountRefused(f"{operator.email} is not an active service account.")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            operator=operator,
            name=name[:100],
            prefix=prefix,
            digest=_digest(secret),
            created_by=issued_by[:254],
            expires_at=expires_at,
        )
        # Audited (``audit.access_events``) in the same transaction; the key itself never is.
        access_signals.api_key_changed.send(sender=ApiKey, actor=actor, key=key, action="issued")
    return key, f"{KEY_START}_{prefix}_{secret}"


def api_key_revoke(*, prefix: str, revoked_by: str = "", actor: User | None = None) -> ApiKey:
    """Revoke the key with this prefix (it stops working at once); revoking twice changes nothing."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(prefix=prefix)
        if key.revoked_at is None:
            key.revoked_at, key.revoked_by = timezone.now(), revoked_by[:254]
            key.save(update_fields=["revoked_at", "revoked_by"])
            access_signals.api_key_changed.send(sender=ApiKey, actor=actor, key=key, action="revoked")
    return key


USE_RESOLUTION = timedelta(minutes=1)


def _note_use(key: ApiKey) -> None:
    """Record that the key was used, at most once a minute (one small UPDATE then, none between)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= USE_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key bo_<prefix>_<secret>``: the key and its account in one statement,
    the secret compared in constant time; any other scheme is left to the next authenticator.
    Refusals are 401 ``{"message"}`` and say nothing about which part was wrong."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        refused = exceptions.AuthenticationFailed("Invalid API key.")
        if len(parts) != 2:
            raise refused
        try:
            start, prefix, secret = parts[1].decode("ascii").split("_", 2)
        except (UnicodeDecodeError, ValueError):
            raise refused from None
        if start != KEY_START or not prefix or not secret or len(prefix) > 16:
            raise refused
        key = ApiKey.objects.select_related("operator").filter(prefix=prefix, revoked_at__isnull=True).first()
        if key is None or not hmac.compare_digest(key.digest, _digest(secret)):
            raise refused
        if key.expires_at is not None and key.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("API key expired.")
        operator = key.operator
        if not (operator.is_active and operator.is_service_account):
            raise refused
        _note_use(key)
        return operator, key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def describe(key: ApiKey) -> dict[str, Any]:
    """What a listing shows of a key (never its digest)."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "operator": key.operator.email,
        "created_at": key.created_at,
        "created_by": key.created_by,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
    }
