"""Writes of operators (users) and their roles, and who may make them.

Taking a role away, deactivating an operator or changing its password ends every token it holds:
``User.save`` and the receivers of ``backoffice.tokens`` raise its token version in the same
transaction, whichever of these writes (or Django's own password forms) made the change.

Each write sends ``access_signals.operator_saved`` inside its transaction: the audit trail
records the operator created, its roles granted or revoked, its deactivation (``audit.access_events``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils.translation import gettext

from backoffice.access_signals import operator_saved, operator_snapshot
from backoffice.models import User
from backoffice.roles import MANAGING_PERMISSIONS, ROLES


class UnknownRole(ValueError):
    pass


def operator_upsert(
    *,
    email: str,
    roles: Sequence[str],
    password: str | None = None,
    full_name: str = "",
    check_password: bool = True,
) -> tuple[User, bool]:
    """Create or update an operator and set its roles to exactly ``roles``; one transaction.

    A password is checked by Django's validators (``ValidationError``, nothing written) unless
    ``check_password`` is false: only the local demo's seeding passes that (its passwords are
    printed on the screen by design).

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
        before = None if created else operator_snapshot(user)
        if created:
            user = User(email=email, full_name=full_name)
        elif full_name:
            user.full_name = full_name
        if password is not None:
            # Django's validators (length, common, numeric, similar to the email) as for any
            # password set in the admin: raises ValidationError, nothing written.
            if check_password:
                validate_password(password, user)
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        operator_saved.send(sender=User, actor=None, operator=user, created=created, before=before)
    return user, created


# --- Operators managed by operators (the admin) ------------------------------------------------
class OperatorChangeRefused(PermissionError):
    """The acting operator may not make this change; ``message`` says why, for the form."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def managing_roles() -> set[str]:
    """Roles that hold a permission over operators or roles (``MANAGING_PERMISSIONS``), as the
    role matrix says now: an edited matrix counts, not a list of names."""
    rows = Group.objects.values_list("name", "permissions__content_type__app_label", "permissions__codename")
    return {name for name, app_label, codename in rows if f"{app_label}.{codename}" in MANAGING_PERMISSIONS}


def grantable_roles(actor: User) -> set[str]:
    """Roles ``actor`` may grant or take away: every role for a superuser; for an operator
    manager, every role that does not itself manage (DESIGN.md section 5); none for anybody else."""
    names = set(Group.objects.values_list("name", flat=True))
    if actor.is_superuser:
        return names
    if not (actor.has_perm("backoffice.add_user") or actor.has_perm("backoffice.change_user")):
        return set()
    return names - managing_roles()


def _check_grant(grantable: set[str], requested: set[str]) -> None:
    refused = sorted(requested - grantable)
    if refused:
        raise OperatorChangeRefused(
            gettext("Only a superuser can grant or remove a role that manages operators: %(roles)s.")
            % {"roles": ", ".join(refused)}
        )


def reach_refusal(*, actor_is_superuser: bool, operator_is_superuser: bool, operator_manages: bool) -> str | None:
    """Why an actor may not change an operator (its password, status or roles), or ``None``.

    A superuser may change anybody. Nobody else changes a superuser or an operator holding a
    managing role, itself included: setting such an operator's password means signing in as them
    with their power (the pentest's finding: a manager took over another manager)."""
    if actor_is_superuser:
        return None
    if operator_is_superuser:
        return gettext("Only a superuser can change a superuser.")
    if operator_manages:
        return gettext("Only a superuser can change an operator who manages operators.")
    return None


def may_change_operator(actor: User, operator: User) -> bool:
    """``reach_refusal`` for these two (the operator's roles read from its prefetched ``groups``
    when the admin loaded them so)."""
    if actor.is_superuser:
        return True
    held = {group.name for group in operator.groups.all()}
    refusal = reach_refusal(
        actor_is_superuser=False,
        operator_is_superuser=operator.is_superuser,
        operator_manages=bool(held & managing_roles()) if held else False,
    )
    return refusal is None


def operator_create(
    *,
    actor: User,
    email: str,
    roles: Sequence[str],
    password: str | None,
    full_name: str = "",
    is_superuser: bool = False,
) -> User:
    """An operator manager creates another operator, with roles that do not manage; only
    superusers grant managing roles and make superusers."""
    if not actor.has_perm("backoffice.add_user"):
        raise OperatorChangeRefused(gettext("You may not create operators."))
    if is_superuser and not actor.is_superuser:
        raise OperatorChangeRefused(gettext("Only a superuser can create a superuser."))
    _check_grant(grantable_roles(actor), set(roles))
    email = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        if User.objects.filter(email=email).exists():
            raise OperatorChangeRefused(gettext("An operator with this email already exists."))
        user = User(email=email, full_name=full_name, is_superuser=is_superuser)
        if password:
            user.set_password(password)
            # Chosen by the manager: the operator sets their own at first sign-in.
            user.password_change_required = True
        else:
            user.set_unusable_password()
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        operator_saved.send(sender=User, actor=actor, operator=user, created=True, before=None)
    return user


def password_reset_by(*, actor: User, operator: User) -> None:
    """After ``actor`` set ``operator``'s password (the admin's password page): unless it was the
    operator themselves, the operator must choose a new one at next sign-in. Its tokens already
    died with the change (``User.save`` raised its token version)."""
    if actor.pk != operator.pk:
        User.objects.filter(pk=operator.pk).update(password_change_required=True)


def operator_preferences_set(operator: User, *, language: str | None = None, time_zone: str | None = None) -> None:
    """An operator's own language and time zone (what the admin shows it in), saved alone: one
    UPDATE of those columns, no transaction of its own, no audit entry (a preference grants and
    takes nothing) and no token change. Callers pass values already validated."""
    fields = []
    if language is not None:
        operator.language = language
        fields.append("language")
    if time_zone is not None:
        operator.time_zone = time_zone
        fields.append("time_zone")
    if fields:
        operator.save(update_fields=fields)


def password_changed_by_self(operator: User) -> None:
    """The operator chose their own password: nothing more is required of them."""
    if operator.password_change_required:
        User.objects.filter(pk=operator.pk).update(password_change_required=False)
        operator.password_change_required = False


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

    A non-superuser cannot touch a superuser, an operator holding a managing role or the
    superuser flag (``reach_refusal``), so every role the operator holds is one the actor may
    grant or take away. Deactivating or taking a role away ends the operator's tokens.
    """
    if not actor.has_perm("backoffice.change_user"):
        raise OperatorChangeRefused(gettext("You may not change operators."))
    grantable = grantable_roles(actor)
    _check_grant(grantable, set(roles))
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=operator.pk)
        before = operator_snapshot(user)
        held = set(before["roles"])
        if not actor.is_superuser:
            refusal = reach_refusal(
                actor_is_superuser=False,
                operator_is_superuser=user.is_superuser,
                operator_manages=bool(held - grantable),
            )
            if refusal:
                raise OperatorChangeRefused(refusal)
            if is_superuser:
                raise OperatorChangeRefused(gettext("Only a superuser can make a superuser."))
        user.full_name = full_name
        user.is_active = is_active
        fields = ["full_name", "is_active"]
        if is_superuser is not None and actor.is_superuser:
            user.is_superuser = is_superuser
            fields.append("is_superuser")
        user.save(update_fields=fields)
        # Every role it holds is one the actor may grant (``reach_refusal``): the roles are set exactly.
        user.groups.set(Group.objects.filter(name__in=roles))
        operator_saved.send(sender=User, actor=actor, operator=user, created=False, before=before)
    return user
