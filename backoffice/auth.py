"""Authentication helpers: one query for an operator's roles and permissions, axes wiring."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.http import HttpRequest
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

access_log = logging.getLogger("backoffice.access")


def _load_access(user: Any) -> None:
    """Fill the per-request caches with the operator's roles and permissions in one query."""
    if hasattr(user, "_role_cache"):
        return
    _set_access(
        user,
        Group.objects.filter(user=user).values_list(
            "name", "permissions__content_type__app_label", "permissions__codename"
        ),
    )


def _set_access(user: Any, rows: Iterable[tuple[str | None, str | None, str | None]]) -> None:
    roles: set[str] = set()
    perms: set[str] = set()
    for name, app_label, codename in rows:
        if name:
            roles.add(name)
        if codename:
            perms.add(f"{app_label}.{codename}")
    user._role_cache = sorted(roles)
    user._perm_cache = perms
    user._group_perm_cache = perms
    user._user_perm_cache = set()


def operator_roles(user: Any) -> list[str]:
    """The operator's role names, sorted: what an audit entry snapshots."""
    if not getattr(user, "is_authenticated", False):
        return []
    _load_access(user)
    return list(user._role_cache)


class RoleBackend(ModelBackend):
    """ModelBackend whose permissions come from roles only, loaded once per user object."""

    def get_all_permissions(self, user_obj: Any, obj: object = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        _load_access(user_obj)
        return user_obj._perm_cache

    def get_group_permissions(self, user_obj: Any, obj: object = None) -> set[str]:
        return self.get_all_permissions(user_obj, obj)

    def get_user_permissions(self, user_obj: Any, obj: object = None) -> set[str]:
        return set()


def log_denied(request: HttpRequest | None, user: Any, permission: str, detail: str = "") -> None:
    """Denied attempts are logged with the operator and the permission (DESIGN.md section 5)."""
    access_log.warning(
        "denied operator=%s permission=%s path=%s %s",
        getattr(user, "email", None) or "anonymous",
        permission,
        getattr(request, "path", "-"),
        detail,
    )


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """Axes lockout key: the email from the admin form (``username``) or the token endpoint."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if not value and request is not None:
        value = request.POST.get("username") or request.POST.get("email")
    return value.lower() if isinstance(value, str) else value


class OperatorJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <JWT>``, loading the operator with its roles and permissions in
    one query instead of simplejwt's user query followed by a permissions query."""

    def get_user(self, validated_token: Token) -> Any:
        from backoffice.models import User

        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise InvalidToken("Token contained no recognizable user identification") from None
        fields = [field.attname for field in User._meta.concrete_fields]
        rows = list(
            User.objects.filter(**{api_settings.USER_ID_FIELD: user_id}).values_list(
                *fields, "groups__name", "groups__permissions__content_type__app_label", "groups__permissions__codename"
            )
        )
        if not rows:
            raise AuthenticationFailed("User not found", code="user_not_found")
        user = User.from_db("default", fields, rows[0][: len(fields)])
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        _set_access(user, (row[len(fields) :] for row in rows))
        return user
