"""Reads of phones, always through the access gate of the acting operator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet, Window
from django.db.models.functions import Coalesce

from backoffice import roles
from backoffice.auth import log_denied
from backoffice.db import CompiledSelect
from phones.errors import OperatorNotAllowed, PhoneNotFound
from phones.limits import DEFAULT_COUNTRY_CODE
from phones.models import Phone
from phones.numbers import digits_only

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


def _account_phones(account_id: int, active: bool | None, phone_type: str | None) -> QuerySet[Phone]:
    queryset = Phone.objects.filter(account_id=account_id)
    if active is not None:
        queryset = queryset.filter(active=active)
    if phone_type:
        queryset = queryset.filter(type=phone_type)
    return queryset


def _account_page(shape: tuple[bool | None, str | None, int, int], *, account_id: int) -> QuerySet[Phone]:
    active, phone_type, offset, limit = shape
    # The total comes with the page (one statement instead of COUNT then SELECT).
    queryset = _account_phones(account_id, active, phone_type).annotate(page_total=Window(Count("*")))
    return queryset.order_by("id")[offset : offset + limit]


def _phone_by_id(_shape: None, *, account_id: int, phone_id: int) -> QuerySet[Phone]:
    return Phone.objects.filter(pk=phone_id, account_id=account_id)


_ACCOUNT_PAGE = CompiledSelect(_account_page)
_PHONE_BY_ID = CompiledSelect(_phone_by_id)


def access_account_phones_page(
    *,
    user: User,
    account_id: int,
    active: bool | None = None,
    phone_type: str | None = None,
    offset: int = 0,
    limit: int,
) -> tuple[list[Phone], int]:
    """One page of an account's phones (by id) and how many match in all."""
    if not user.has_perm(roles.VIEW_PHONE):
        log_denied(None, user, roles.VIEW_PHONE, "list")
        raise OperatorNotAllowed()
    rows = _ACCOUNT_PAGE.fetch((active, phone_type, offset, limit), account_id=account_id)
    if rows:
        return rows, rows[0].page_total
    # Past the end (or nothing at all): the window had no row to carry the total.
    return [], _account_phones(account_id, active, phone_type).count() if offset else 0


def access_phone_by_id(*, user: User, account_id: int, phone_id: int) -> Phone:
    if not user.has_perm(roles.VIEW_PHONE):
        log_denied(None, user, roles.VIEW_PHONE, "detail")
        raise OperatorNotAllowed()
    rows = _PHONE_BY_ID.fetch(account_id=account_id, phone_id=phone_id)
    if not rows:
        raise PhoneNotFound()
    return rows[0]


def phone_number_taken(phone: Phone) -> bool:
    """Whether another active phone of ``phone``'s account has the same number, by the key of
    the unique index that decides it (``DUPLICATE_CONSTRAINTS``: its E.164, else its parts): for a
    form's early answer; the index stays the authority when two saves race."""
    return bool(phone_number_holder(phone))


def phone_number_holder(phone: Phone) -> Phone | None:
    """The other active phone of ``phone``'s account with the same number (``phone_number_taken``)."""
    if phone.e164:
        return (
            Phone.objects.filter(account_id=phone.account_id, e164=phone.e164, active=True).exclude(pk=phone.pk).first()
        )
    return (
        Phone.objects.filter(
            account_id=phone.account_id, country_code=phone.country_code, number_digits=phone.number_digits, active=True
        )
        .annotate(area=Coalesce("area_code", -1))
        .filter(area=-1 if phone.area_code is None else phone.area_code, e164__isnull=True)
        .exclude(pk=phone.pk)
        .first()
    )


# A number typed with fewer digits than a subscriber number (8 in Brazil) matches only whole:
# "5678" as the end of every number would name thousands of phones.
SUFFIX_MIN_DIGITS = 8


def phone_ids_by_number(term: str, limit: int) -> list[int]:
    """Ids (at most ``limit``, oldest first) of the phones whose number is the one typed, however
    it was typed: with its country code ("+55 11 91234-5678"), with its area code
    ("11912345678", the default country's) or alone ("912345678", as stored or as the end of the
    E.164). Every arm is an index read: ``e164`` and ``number_digits`` by equality (their btree
    indexes), the end of ``e164`` by its trigram index; never a scan of the table."""
    digits = digits_only(term)
    if not digits:
        return []
    match = Q(e164=f"+{digits}") | Q(e164=f"+{DEFAULT_COUNTRY_CODE}{digits}") | Q(number_digits=digits)
    if len(digits) >= SUFFIX_MIN_DIGITS:
        match |= Q(e164__endswith=digits)
    return list(Phone.objects.filter(match).order_by("id").values_list("id", flat=True)[:limit])
