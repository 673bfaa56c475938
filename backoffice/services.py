"""Writes of operators (users) and their roles."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import Group
from django.db import transaction

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
