"""Reads of phones, always through the access gate of the acting operator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from backoffice import roles
from backoffice.auth import log_denied
from phones.errors import OperatorNotAllowed, PhoneNotFound
from phones.models import Phone

if TYPE_CHECKING:
    from backoffice.models import User


def phones_visible_to(user: User) -> QuerySet[Phone]:
    """Every phone the operator may see; none for an operator without the view right."""
    if not user.has_perm(roles.VIEW_PHONE):
        return Phone.objects.none()
    return Phone.objects.all()


def access_phones_by_account(*, user: User, account_id: int) -> QuerySet[Phone]:
    if not user.has_perm(roles.VIEW_PHONE):
        log_denied(None, user, roles.VIEW_PHONE, "list")
        raise OperatorNotAllowed()
    return Phone.objects.filter(account_id=account_id)


def access_phone_by_id(*, user: User, account_id: int, phone_id: int) -> Phone:
    if not user.has_perm(roles.VIEW_PHONE):
        log_denied(None, user, roles.VIEW_PHONE, "detail")
        raise OperatorNotAllowed()
    try:
        return Phone.objects.get(pk=phone_id, account_id=account_id)
    except Phone.DoesNotExist:
        raise PhoneNotFound() from None
