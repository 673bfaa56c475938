"""Writes of operators (users) and their roles."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import Group
from django.db import transaction

from backoffice.auth import operator_roles
from backoffice.models import User
from backoffice.roles import ROLES


class UnknownRole(ValueError):
    pass


def operator_upsert(
    *,
    email: str,
    roles: Sequence[str],
    password: str | None = None,
    full_name: str = "",
) -> tuple[User, bool]:
    """Create or update an operator and set its roles to exactly ``roles``; one transaction.

    Returns ``(user, created)``. A ``None`` password leaves an existing one unchanged (a new
    operator then has no usable password until one is set).
    """
    unknown = sorted(set(roles) - set(Group.objects.filter(name__in=roles).values_list("name", flat=True)))
    if unknown:
        raise UnknownRole(f"Unknown role(s): {', '.join(unknown)}. Known: {', '.join(ROLES)}")
    email = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(email=email).first()
        created = user is None
        if created:
            user = User(email=email, full_name=full_name)
        elif full_name:
            user.full_name = full_name
        if password is not None:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
    return user, created


# --- Operators managed by operators (the admin) ------------------------------------------------
class OperatorChangeRefused(PermissionError):
    """The acting operator may not make this change; ``message`` says why, for the form."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def grantable_roles(actor: User) -> set[str]:
    """Roles ``actor`` may hand out: the ones it holds (every role for a superuser)."""
    if actor.is_superuser:
        return set(Group.objects.values_list("name", flat=True))
    return set(operator_roles(actor))  # loaded once per request with the permissions


def _check_grant(actor: User, requested: set[str]) -> None:
    refused = sorted(requested - grantable_roles(actor))
    if refused:
        raise OperatorChangeRefused(f"You cannot grant a role you do not hold: {', '.join(refused)}.")


def operator_create(
    *,
    actor: User,
    email: str,
    roles: Sequence[str],
    password: str | None,
    full_name: str = "",
    is_superuser: bool = False,
) -> User:
    """An operator creates another, with roles it holds itself; only superusers make superusers."""
    if not actor.has_perm("backoffice.add_user"):
        raise OperatorChangeRefused("You may not create operators.")
    if is_superuser and not actor.is_superuser:
        raise OperatorChangeRefused("Only a superuser can create a superuser.")
    _check_grant(actor, set(roles))
    email = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        if User.objects.filter(email=email).exists():
            raise OperatorChangeRefused("An operator with this email already exists.")
        user = User(email=email, full_name=full_name, is_superuser=is_superuser)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
    return user


def operator_change(
    *,
    actor: User,
    operator: User,
    roles: Sequence[str],
    full_name: str,
    is_active: bool,
    is_superuser: bool | None = None,
) -> User:
    """Change an operator's name, status and roles under a row lock.

    Roles the actor does not hold are neither granted nor taken away: they are not the actor's
    to manage. A non-superuser cannot touch a superuser or the superuser flag.
    """
    if not actor.has_perm("backoffice.change_user"):
        raise OperatorChangeRefused("You may not change operators.")
    grantable = grantable_roles(actor)
    _check_grant(actor, set(roles))
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=operator.pk)
        if not actor.is_superuser:
            if user.is_superuser:
                raise OperatorChangeRefused("Only a superuser can change a superuser.")
            if is_superuser:
                raise OperatorChangeRefused("Only a superuser can make a superuser.")
        kept = set(user.groups.values_list("name", flat=True)) - grantable
        user.full_name = full_name
        user.is_active = is_active
        fields = ["full_name", "is_active"]
        if is_superuser is not None and actor.is_superuser:
            user.is_superuser = is_superuser
            fields.append("is_superuser")
        user.save(update_fields=fields)
        user.groups.set(Group.objects.filter(name__in=kept | set(roles)))
    return user
