"""Who is acting: the value services take and sync jobs carry, instead of a user model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backoffice.auth import log_denied, operator_roles


@dataclass(frozen=True)
class Actor:
    """An operator as they were when they acted: id, email and role names (what an audit entry
    names), and the permissions their roles gave them then.

    Made from the request's user by the interfaces (``Actor.of``), or from a sync job's snapshot
    by the worker (``Actor.snapshot``), whose outcome entries name the operator whose change
    caused the job even once that operator is gone. A snapshot carries no permissions: it
    records what happened, it is never asked whether it may.
    """

    id: int | None
    email: str
    roles: tuple[str, ...] = ()
    permissions: frozenset[str] = field(default=frozenset(), repr=False)
    is_superuser: bool = False

    @classmethod
    def of(cls, user: Any) -> Actor:
        """The request's operator. Reads nothing for an API request (the roles and permissions
        came with the operator's row); a session user's roles are read once if not yet loaded."""
        if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
            return cls(id=getattr(user, "pk", None), email=getattr(user, "email", "") or "")
        superuser = bool(user.is_superuser)
        return cls(
            id=user.pk,
            email=user.email,
            roles=tuple(operator_roles(user)),
            # A superuser may do anything (Django's rule); asking Django for "all permissions"
            # would read the whole permission table for nothing.
            permissions=frozenset() if superuser else frozenset(user.get_all_permissions()),
            is_superuser=superuser,
        )

    @classmethod
    def snapshot(cls, *, id: int | None, email: str, roles: list[str] | tuple[str, ...]) -> Actor:
        return cls(id=id, email=email, roles=tuple(roles))

    def has_perm(self, permission: str) -> bool:
        return self.is_superuser or permission in self.permissions

    def require(self, permission: str, error: type[Exception]) -> None:
        """Raise ``error`` (logged as a denial) unless the actor holds ``permission``."""
        if not self.has_perm(permission):
            log_denied(None, self, permission, "service")
            raise error()
