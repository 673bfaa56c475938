"""API tokens that die with access: each carries the operator's token version, checked on every
request and every refresh; the version rises when the password changes, the operator is
deactivated (``backoffice.models.User.save``) or a role is taken away (the receivers below).

A refresh token is used once: refreshing blacklists it and answers a new pair (simplejwt's
``token_blacklist``, ``ROTATE_REFRESH_TOKENS``/``BLACKLIST_AFTER_ROTATION``), and signing out
blacklists it (``POST /auth/logout``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token

from backoffice.access_signals import refresh_token_revoked

# The claim with the operator's token version at issue. A token without it (issued before the
# claim existed, or by simplejwt's own ``RefreshToken.for_user``, as the benchmark and some tests
# do) counts as 0, every operator's first version: it dies at the first revocation. Versions only
# rise, so counting it so never revives a token.
TOKEN_VERSION_CLAIM = "ver"
REVOKED = "Token is no longer valid: sign in again"
ALREADY_USED = "Token is blacklisted"


class OperatorRefreshToken(RefreshToken):
    """simplejwt's refresh token with the operator's token version; its access tokens copy it."""

    @classmethod
    def for_user(cls, user: Any) -> OperatorRefreshToken:
        token = super().for_user(user)
        token[TOKEN_VERSION_CLAIM] = user.token_version
        return token


def check_token_version(token: Token, user: Any) -> None:
    """Refuses (401) a token issued at another token version than the operator's: a pure check of
    the claim against the operator already read (no query)."""
    if token.get(TOKEN_VERSION_CLAIM, 0) != user.token_version:
        raise AuthenticationFailed(REVOKED, code="token_revoked")


def use_refresh_token(raw: str) -> dict[str, str]:
    """Exchanges a refresh token for a new pair, once: the token is checked (signature, expiry,
    type, not blacklisted), its operator must be active and at the token's version, and the token
    is blacklisted in the same transaction that issues the new pair. Blacklisting inserts a row
    with a unique key: of two concurrent uses of one token only the first gets a pair."""
    from backoffice.models import User

    refresh = OperatorRefreshToken(raw)  # TokenError: invalid, expired or blacklisted
    user = User.objects.filter(pk=refresh.get(api_settings.USER_ID_CLAIM)).first()
    if user is None or not user.is_active:
        raise AuthenticationFailed("No active account found for the given token.", code="no_active_account")
    check_token_version(refresh, user)
    with transaction.atomic():
        _, created = refresh.blacklist()
        if not created:
            raise TokenError(ALREADY_USED)
        access = str(refresh.access_token)
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
        return {"access": access, "refresh": str(refresh)}


def retire_refresh_token(raw: str) -> None:
    """Signs a refresh token out: blacklisted, it gives no access token any more. Its access
    tokens live on until they expire (``ACCESS_TOKEN_LIFETIME``): killing them too is the token
    version's job, which ends every session of the operator."""
    refresh = OperatorRefreshToken(raw)  # TokenError: invalid, expired or already blacklisted
    with transaction.atomic():  # the blacklisting and its audit entry commit together
        _, created = refresh.blacklist()
        if not created:
            raise TokenError(ALREADY_USED)
        refresh_token_revoked.send(sender=OperatorRefreshToken, operator_id=refresh.get(api_settings.USER_ID_CLAIM))


# --- Roles taken away: the token version of their holders rises --------------------------------
def _raise_versions(user_ids: Any) -> None:
    from backoffice.models import User

    User.objects.filter(pk__in=user_ids).update(token_version=F("token_version") + 1)


def roles_removed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_: Any) -> None:
    """``m2m_changed`` of ``User.groups``, before rows go (in their transaction): the operators
    that actually lose a role, whichever side removed it (``user.groups.remove/set/clear``, the
    admin, ``group.user_set.remove``)."""
    if action not in ("pre_remove", "pre_clear"):
        return
    memberships = sender.objects.all()
    if reverse:  # instance is a role, pk_set operators
        memberships = memberships.filter(group_id=instance.pk)
        if action == "pre_remove":
            memberships = memberships.filter(user_id__in=pk_set or ())
    else:  # instance is an operator, pk_set roles
        memberships = memberships.filter(user_id=instance.pk)
        if action == "pre_remove":
            memberships = memberships.filter(group_id__in=pk_set or ())
    _raise_versions(memberships.values("user_id"))
    if not reverse and hasattr(instance, "token_version"):
        instance.refresh_from_db(fields=["token_version"])  # a token issued for it next must match


def role_deleted(sender: Any, instance: Any, **_: Any) -> None:
    """``pre_delete`` of a role: its memberships go by cascade, which sends no ``m2m_changed``."""
    from backoffice.models import User

    _raise_versions(User.groups.through.objects.filter(group_id=instance.pk).values("user_id"))


def connect_receivers() -> None:
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, pre_delete

    from backoffice.models import User

    m2m_changed.connect(roles_removed, sender=User.groups.through, dispatch_uid="backoffice-roles-removed")
    pre_delete.connect(role_deleted, sender=Group, dispatch_uid="backoffice-role-deleted")
