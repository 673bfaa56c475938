"""Authentication helpers: one query for an operator's roles and permissions (the role matrix kept in
memory while its version holds), axes wiring."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

from backoffice.tokens import check_token_version

access_log = logging.getLogger("backoffice.access")


# The operator's (role names, permissions), kept on the user object for the request: our own
# attribute, read only through ``_access_of`` (ModelBackend's private ``_perm_cache`` and friends
# are not used: ``RoleBackend`` answers Django's permission questions from this one).
ACCESS_ATTRIBUTE = "_backoffice_access"


def _load_access(user: Any) -> None:
    """Load the operator's roles and permissions once per user object, in one query (on
    PostgreSQL the role ids and the matrix version, the matrix itself from memory)."""
    if getattr(user, ACCESS_ATTRIBUTE, None) is not None:  # getattr: request.user is a lazy proxy
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_role_ids_query(), [user.pk])
            group_ids, version = cursor.fetchone()
        _set_access(user, *_roles_of(group_ids, version))
        return
    # SQLite (the local run) has no version triggers: the roles are read every time.
    rows = Group.objects.filter(user=user).values_list(
        "name", "permissions__content_type__app_label", "permissions__codename"
    )
    _set_access(user, *_access_from_rows(rows))


def _access_from_rows(rows: Iterable[tuple[str | None, str | None, str | None]]) -> tuple[list[str], set[str]]:
    """Role names and permissions from (role, app label, codename) rows."""
    roles: set[str] = set()
    perms: set[str] = set()
    for name, app_label, codename in rows:
        if name:
            roles.add(name)
        if codename:
            perms.add(f"{app_label}.{codename}")
    return sorted(roles), perms


def _set_access(user: Any, roles: list[str], perms: set[str]) -> None:
    setattr(user, ACCESS_ATTRIBUTE, (roles, perms))


def _access_of(user: Any) -> tuple[list[str], set[str]]:
    """The operator's (sorted role names, permissions), loaded on first use."""
    _load_access(user)
    return getattr(user, ACCESS_ATTRIBUTE)


def operator_roles(user: Any) -> list[str]:
    """The operator's role names, sorted: what an audit entry snapshots."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(_access_of(user)[0])


class RoleBackend(ModelBackend):
    """ModelBackend whose permissions come from roles only, loaded once per user object
    (``_access_of``). Django's ``has_perm``/``has_perms``/``has_module_perms`` all ask
    ``get_all_permissions``; a superuser keeps ModelBackend's own answers."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        """Emails are stored lower-case (``UserManager``, ``operator_create``): one typed with
        capitals or around spaces names the same operator, in the admin and at ``/auth/token``."""
        if username is None:
            username = kwargs.pop("email", None)
        if isinstance(username, str):
            username = username.strip().lower()
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_all_permissions(self, user_obj: Any, obj: object = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        return _access_of(user_obj)[1]

    def get_group_permissions(self, user_obj: Any, obj: object = None) -> set[str]:
        if user_obj.is_superuser:
            return super().get_group_permissions(user_obj, obj)
        return self.get_all_permissions(user_obj, obj)

    def get_user_permissions(self, user_obj: Any, obj: object = None) -> set[str]:
        if user_obj.is_superuser:
            return super().get_user_permissions(user_obj, obj)
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


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``).

    On the API (``/auth/token``) JSON ``{"message"}`` built in code: no template is rendered, so
    a broken or missing template cannot turn a lockout into a 500. In the admin, the themed page
    that says why and for how long (``AXES_LOCKOUT_TEMPLATE``).
    """
    from axes.helpers import get_cool_off, get_cool_off_iso8601, get_failure_limit

    from backoffice.middleware import LOCKED_OUT, is_api_path

    status = settings.AXES_HTTP_RESPONSE_CODE
    if is_api_path(request.path):
        return JsonResponse({"message": LOCKED_OUT}, status=status)
    cool_off = get_cool_off(request)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": axes_username(request, credentials) or "",
        "cooloff_time": get_cool_off_iso8601(cool_off) if cool_off else "",
        # What the page says ("15 minutes"): the ISO duration above is for machines.
        "cooloff_minutes": max(1, round(cool_off.total_seconds() / 60)) if cool_off else None,
    }
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=status)


SQLITE_ACCESS_COLUMNS = (
    "groups__name",
    "groups__permissions__content_type__app_label",
    "groups__permissions__codename",
)


@cache
def _access_columns() -> str:
    """SQL for the role ids of the user ``u`` and the role matrix version (PostgreSQL)."""
    from backoffice.models import AccessVersion, User

    quote = connection.ops.quote_name
    membership = quote(User.groups.through._meta.db_table)
    version = quote(AccessVersion._meta.db_table)
    return (
        f"ARRAY(SELECT m.group_id FROM {membership} m WHERE m.user_id = u.id), "
        f"(SELECT v.version FROM {version} v WHERE v.id = 1)"
    )


@cache
def _role_ids_query() -> str:
    from backoffice.models import User

    return f"SELECT {_access_columns()} FROM {connection.ops.quote_name(User._meta.db_table)} u WHERE u.id = %s"


@cache
def _operator_query() -> tuple[list[str], str]:
    """The operator's row, its role ids and the role matrix version: one statement on two small
    tables, its SQL built once per process (the ORM's compile cost more than the round trip)."""
    from backoffice.models import User

    quote = connection.ops.quote_name
    fields = [field.attname for field in User._meta.concrete_fields]
    columns = ", ".join(f"u.{quote(field.column)}" for field in User._meta.concrete_fields)
    return fields, f"SELECT {columns}, {_access_columns()} FROM {quote(User._meta.db_table)} u WHERE u.id = %s"


RoleMatrix = dict[int, tuple[str, frozenset[str]]]
# (version, role id -> (name, permissions)); replaced whole, so threads read a consistent pair.
_role_matrix: tuple[int | None, RoleMatrix] = (None, {})


def _load_role_matrix() -> tuple[int | None, RoleMatrix]:
    """Every role with its permissions and the version they belong to, read in one statement so
    that the pair is consistent."""
    from django.db.models import Subquery

    from backoffice.models import AccessVersion

    version = Subquery(AccessVersion.objects.filter(pk=1).values("version")[:1])
    rows = Group.objects.annotate(access_version=version).values_list(
        "access_version", "id", "name", "permissions__content_type__app_label", "permissions__codename"
    )
    found: int | None = None
    names: dict[int, str] = {}
    perms: dict[int, set[str]] = {}
    for row_version, group_id, name, app_label, codename in rows:
        found = row_version
        names[group_id] = name
        granted = perms.setdefault(group_id, set())
        if codename:
            granted.add(f"{app_label}.{codename}")
    return found, {group_id: (names[group_id], frozenset(perms[group_id])) for group_id in names}


def _roles_of(group_ids: list[int], version: int | None) -> tuple[list[str], set[str]]:
    """Role names and permissions of these roles, from the in-memory matrix while ``version``
    (read with the operator) is the one it was loaded at; reloaded otherwise. A missing version
    row (a flushed test database) means no caching at all."""
    global _role_matrix
    cached_version, matrix = _role_matrix
    if version is None or version != cached_version or not all(group_id in matrix for group_id in group_ids):
        cached_version, matrix = _load_role_matrix()
        if cached_version is not None:
            _role_matrix = (cached_version, matrix)
    roles: set[str] = set()
    perms: set[str] = set()
    for group_id in group_ids:
        if group_id in matrix:
            name, granted = matrix[group_id]
            roles.add(name)
            perms.update(granted)
    return sorted(roles), perms


@lru_cache(maxsize=4096)
def _verified_token(raw_token: bytes) -> Token:
    """simplejwt's full check (signature, type, claims) of a token, once per process. A
    failure raises and is not cached."""
    return JWTAuthentication.get_validated_token(_PLAIN, raw_token)


_PLAIN = JWTAuthentication()


class OperatorJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <JWT>``: the operator (its token version among its columns), its
    role ids and the role matrix version in one statement (PostgreSQL), the roles' permissions
    from the in-memory matrix while that version holds; simplejwt would run a user query and then
    a permissions query. A token of another token version than the operator's is refused (401)."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        # A client sends the same token for its whole lifetime: the signature of those bytes was
        # checked once; what can change since is the clock, so expiry is checked every time.
        token = _verified_token(raw_token)
        try:
            token.check_exp(current_time=aware_utcnow())
        except TokenError:
            return super().get_validated_token(raw_token)  # raises simplejwt's own error
        return token

    def get_user(self, validated_token: Token) -> Any:
        from backoffice.models import User

        try:
            user_id = int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise InvalidToken("Token contained no recognizable user identification") from None
        access = None
        if connection.vendor == "postgresql":
            # psycopg returns the field types as the model wants them; SQLite (local run) needs
            # the ORM's converters and has no version triggers, so it keeps an ORM query.
            fields, sql = _operator_query()
            with connection.cursor() as cursor:
                cursor.execute(sql, [user_id])
                row = cursor.fetchone()
            user = None if row is None else User.from_db(connection.alias, fields, row[: len(fields)])
            access = None if row is None else row[len(fields) :]
        else:
            # One ORM query: one row per permission of each role, each with the user's columns.
            fields = [field.attname for field in User._meta.concrete_fields]
            rows = list(User.objects.filter(pk=user_id).values_list(*fields, *SQLITE_ACCESS_COLUMNS))
            user = User.from_db(connection.alias, fields, rows[0][: len(fields)]) if rows else None
            if user is not None:
                _set_access(user, *_access_from_rows(row[len(fields) :] for row in rows))
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        # The token version is a column of the row just read: the check costs no query.
        check_token_version(validated_token, user)
        if access is not None:
            _set_access(user, *_roles_of(*access))
        return user
