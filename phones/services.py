"""All writes to phones. Each service is one transaction holding the change and its audit entry.

Views, serializers, admin forms, commands and tasks parse their input, call a service and
render; nothing else saves a ``Phone``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Case, CharField, OuterRef, QuerySet, Subquery, Value, When
from django.db.transaction import TransactionManagementError

from audit.models import AuditEntry, AuditEvent
from audit.services import AuditContext, audit_entry_build, audit_entry_insert
from backoffice import roles
from backoffice.auth import log_denied
from backoffice.db import CompiledSelect, insert_row, reserve_id
from phones.errors import (
    OperatorNotAllowed,
    PhoneAlreadyExists,
    PhoneInactive,
    PhoneNotFound,
    PhoneValidationError,
)
from phones.models import DUPLICATE_CONSTRAINT, Phone, PhoneType
from phones.numbers import INT32_MAX, INT64_MAX, number_problem
from phones.outbox import sync_after_phone_change

if TYPE_CHECKING:
    from backoffice.models import User

EDITABLE_FIELDS = ("number", "type", "area_code", "country_code", "extension", "active")


def _require(actor: User, permission: str) -> None:
    if not actor.has_perm(permission):
        log_denied(None, actor, permission, "service")
        raise OperatorNotAllowed()


def _validate(field: str, value: Any) -> Any:
    """Domain rules shared by every entry point; returns the cleaned value."""
    if field == "number":
        value = value.strip() if isinstance(value, str) else value
        if not isinstance(value, str):
            raise PhoneValidationError(field, "A valid string is required.")
        if len(value) > 15:
            raise PhoneValidationError(field, "Ensure this field has no more than 15 characters.")
        if problem := number_problem(value):
            raise PhoneValidationError(field, problem)
    elif field == "type":
        if value not in PhoneType.values:
            raise PhoneValidationError(field, f'"{value}" is not a valid choice.')
    elif field == "area_code":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT32_MAX):
            raise PhoneValidationError(field, f"Ensure this value is between 0 and {INT32_MAX}.")
    elif field == "country_code":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 99999:
            raise PhoneValidationError(field, "Ensure this value is between 0 and 99999.")
    elif field == "extension":
        if value is not None and not isinstance(value, str):
            raise PhoneValidationError(field, "A valid string is required.")
        value = (value or "").strip() or None
        if value is not None and len(value) > 10:
            raise PhoneValidationError(field, "Ensure this field has no more than 10 characters.")
    elif field == "active" and not isinstance(value, bool):
        raise PhoneValidationError(field, "Must be a valid boolean.")
    return value


def _validate_account(account_id: Any) -> int:
    if not isinstance(account_id, int) or isinstance(account_id, bool) or not 1 <= account_id <= INT64_MAX:
        raise PhoneValidationError("accountId", f"Ensure this value is between 1 and {INT64_MAX}.")
    return account_id


def audit_object(phone: Phone) -> dict[str, Any]:
    """The phone as the contract's audit ``object``: area and country codes as strings."""
    return {
        "account_id": phone.account_id,
        "customer_id": phone.customer_id,
        "area_code": "" if phone.area_code is None else str(phone.area_code),
        "number": phone.number,
        "type": phone.type,
        "extension": phone.extension,
        "active": phone.active,
        "country_code": str(phone.country_code),
    }


def _is_duplicate(error: IntegrityError) -> bool:
    return DUPLICATE_CONSTRAINT in str(error) or "UNIQUE constraint failed" in str(error)


def phone_create(
    *,
    actor: User,
    context: AuditContext,
    account_id: int,
    number: str,
    type: str,
    area_code: int | None = None,
    country_code: int = 55,
    extension: str | None = None,
    active: bool = True,
    customer_id: int | None = None,
) -> Phone:
    """Create a phone and its ``phone_creation`` audit entry in one transaction (on PostgreSQL one
    statement; inside a caller's atomic block, part of that transaction).

    Raises ``PhoneValidationError`` (400), ``PhoneAlreadyExists`` (409, decided by the partial
    unique index, so concurrent creates cannot both win) or ``OperatorNotAllowed`` (403).
    A new phone has no provider link yet, so there is nothing to sync.
    """
    _require(actor, roles.ADD_PHONE)
    account_id = _validate_account(account_id)
    if customer_id is not None and (not isinstance(customer_id, int) or not 1 <= customer_id <= INT64_MAX):
        raise PhoneValidationError("x-customer-id", f"Ensure this value is between 1 and {INT64_MAX}.")
    values = {
        field: _validate(field, value)
        for field, value in (
            ("number", number),
            ("type", type),
            ("area_code", area_code),
            ("country_code", country_code),
            ("extension", extension),
            ("active", active),
        )
    }
    phone = Phone(account_id=account_id, customer_id=customer_id, **values)
    phone.derive()

    def creation_entry() -> AuditEntry:
        obj = audit_object(phone)
        # The head stays empty on a new phone (its creation entry is the whole chain): setting
        # it would cost this hot path an UPDATE; ``lock_phone`` reads it when it needs it.
        return audit_entry_build(
            actor=actor,
            event=AuditEvent.PHONE_CREATION,
            context=context,
            obj=obj,
            changes={key: [None, value] for key, value in obj.items() if key != "account_id"},
            phone_id=phone.pk,
            account_id=account_id,
            prev_hash="",
        )

    # The entry's hash covers the phone's id. PostgreSQL: the id is reserved first, and the phone
    # and its entry go in one statement, one transaction by itself (one round trip instead of
    # BEGIN, two INSERTs and COMMIT). SQLite: the insert assigns the id, the entry follows it.
    phone.pk = reserve_id(Phone)
    try:
        if phone.pk is not None:
            # Inside a caller's transaction (admin, commands) a savepoint keeps it usable after a
            # duplicate, as the atomic block below does; outside, the statement needs none.
            with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
                audit_entry_insert(creation_entry(), together_with=phone)
        else:
            with transaction.atomic():
                insert_row(phone)
                audit_entry_insert(creation_entry())
    except IntegrityError as error:
        if _is_duplicate(error):
            raise PhoneAlreadyExists() from error
        raise
    return phone


def _with_creation_hash(phones: QuerySet[Phone]) -> QuerySet[Phone]:
    """Annotate ``creation_hash``: for a phone whose head is still empty, its latest entry.

    Every writer but ``phone_create`` moves the head under the phone's lock in the transaction
    that appends the entry, so an empty head on the row this lock returns (the latest committed
    version, even after a wait) means the creation entry is the whole chain. That entry committed
    with the row itself, so the locking statement's own snapshot sees it: no second round trip.
    """
    latest = AuditEntry.objects.filter(phone_id=OuterRef("pk")).order_by("-id").values("hash")[:1]
    return phones.annotate(
        creation_hash=Case(When(audit_head="", then=Subquery(latest)), default=Value(""), output_field=CharField())
    )


def _phone_for_update(_shape: None, *, account_id: int, phone_id: int) -> QuerySet[Phone]:
    return _with_creation_hash(Phone.objects.select_for_update(of=("self",)).filter(pk=phone_id, account_id=account_id))


_PHONE_FOR_UPDATE = CompiledSelect(_phone_for_update)


def _chain_head(phone: Phone) -> Phone:
    if not phone.audit_head:
        phone.audit_head = phone.creation_hash or ""  # type: ignore[attr-defined]
    return phone


def lock_phone(*, account_id: int, phone_id: int) -> Phone:
    """Lock the phone row for a change; the caller must be inside ``transaction.atomic``.

    ``phone.audit_head`` is then the hash of the phone's latest audit entry and
    ``phone.provider_linked`` whether it has an active link: both are written only under this
    lock, and a SELECT ... FOR UPDATE that waited returns the row as the previous holder
    committed it. A phone never changed since its creation has no head recorded yet: it is its
    creation entry's, read in the same statement (``_with_creation_hash``).
    """
    if not transaction.get_connection().in_atomic_block:
        # The ORM checks this when it compiles; the compiled statement is reused, so check here.
        raise TransactionManagementError("lock_phone needs a transaction (transaction.atomic)")
    rows = _PHONE_FOR_UPDATE.fetch(account_id=account_id, phone_id=phone_id)
    if not rows:
        raise PhoneNotFound()
    return _chain_head(rows[0])


def lock_phones(phone_ids: Iterable[int]) -> dict[int, Phone]:
    """Lock several phones by id (``lock_phone``'s contract for each; missing ids are absent).

    Rows are locked in id order, so two batch writers never wait on each other in a cycle.
    """
    locked = Phone.objects.select_for_update(of=("self",)).filter(pk__in=sorted(set(phone_ids))).order_by("pk")
    return {phone.pk: _chain_head(phone) for phone in _with_creation_hash(locked)}


def phone_update(
    *,
    actor: User,
    context: AuditContext,
    account_id: int,
    phone_id: int,
    data: Mapping[str, Any],
) -> Phone:
    """Apply a partial update (``data``: a subset of ``EDITABLE_FIELDS``) under a row lock.

    One transaction: lock, compare, save the changed fields, one ``phone_change`` audit entry.
    Nothing changed means no write and no entry. An inactive phone cannot be updated (422);
    ``{"active": False}`` is the inactivation. Raises ``PhoneNotFound`` (404) for a phone that
    is not in ``account_id``, ``PhoneAlreadyExists`` (409) when the result would duplicate an
    active phone of the account, ``PhoneValidationError`` (400).
    """
    _require(actor, roles.CHANGE_PHONE)
    if not data:
        raise PhoneValidationError("body", "At least one field must be given.")
    unknown = [field for field in data if field not in EDITABLE_FIELDS]
    if unknown:
        raise PhoneValidationError(unknown[0], "Unknown field.")
    cleaned = {field: _validate(field, value) for field, value in data.items()}
    try:
        with transaction.atomic():
            phone = lock_phone(account_id=account_id, phone_id=phone_id)
            if not phone.active:
                raise PhoneInactive()
            before = audit_object(phone)
            changed = [field for field, value in cleaned.items() if getattr(phone, field) != value]
            if not changed:
                return phone
            previous_e164 = phone.e164
            for field in changed:
                setattr(phone, field, cleaned[field])
            derived = phone.derive()
            after = audit_object(phone)
            entry = audit_entry_build(
                actor=actor,
                event=AuditEvent.PHONE_CHANGE,
                context=context,
                obj=after,
                changes={key: [before[key], after[key]] for key in after if before[key] != after[key]},
                phone_id=phone.pk,
                account_id=phone.account_id,
                prev_hash=phone.audit_head,
            )
            # The new chain head goes in the same UPDATE as the change, and the UPDATE in the same
            # statement as the entry's INSERT on PostgreSQL.
            phone.audit_head = entry.hash
            audit_entry_insert(entry, updating=(phone, [*changed, *derived, "audit_head", "updated_at"]))
            if phone.provider_linked:
                # Transactional outbox: a linked phone's sync job commits with the change.
                sync_after_phone_change(
                    phone=phone, changed=set(changed), previous_e164=previous_e164, actor=actor, context=context
                )
    except IntegrityError as error:
        if _is_duplicate(error):
            raise PhoneAlreadyExists() from error
        raise
    return phone


def phone_inactivate(*, actor: User, context: AuditContext, account_id: int, phone_id: int) -> Phone:
    """Inactivation is the only "delete": ``phone_update`` with ``active=False``."""
    return phone_update(
        actor=actor,
        context=context,
        account_id=account_id,
        phone_id=phone_id,
        data={"active": False},
    )
