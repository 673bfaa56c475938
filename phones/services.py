"""Phone services: create, update, inactivate. Each is one transaction holding the change and its
audit entry, written through the unit of work (``phones.changes``); a linked phone's change also
queues its sync job there (transactional outbox), published when the transaction commits.

Read like Zulip's ``zerver/actions``: check (``phones.checks``), lock, change, audit, on-commit.
Views, serializers, admin forms, commands and tasks parse their input, call a service and render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.models import AuditEvent
from audit.services import AuditContext
from backoffice import roles
from backoffice.actor import Actor
from phones import checks, outbox
from phones.changes import changes, create_phone
from phones.errors import OperatorNotAllowed, PhoneInactive
from phones.limits import DEFAULT_COUNTRY_CODE
from phones.models import Phone
from phones.objects import changed_values, phone_object

EDITABLE_FIELDS = checks.EDITABLE_FIELDS


def phone_create(
    *,
    actor: Actor,
    context: AuditContext,
    account_id: int,
    number: str,
    type: str,
    area_code: int | None = None,
    country_code: int = DEFAULT_COUNTRY_CODE,
    extension: str | None = None,
    active: bool = True,
    customer_id: int | None = None,
) -> Phone:
    """Create a phone and its ``phone_creation`` audit entry, all or nothing (on PostgreSQL one
    statement; inside a caller's atomic block, part of that transaction). Nothing is published:
    a new phone has no provider link yet.

    Raises ``PhoneValidationError`` (400, naming the domain field), ``PhoneAlreadyExists`` (409,
    decided by the partial unique index, so concurrent creates cannot both win) or
    ``OperatorNotAllowed`` (403).
    """
    actor.require(roles.ADD_PHONE, OperatorNotAllowed)
    values = checks.check_phone_create(
        account_id=account_id,
        number=number,
        type=type,
        area_code=area_code,
        country_code=country_code,
        extension=extension,
        active=active,
        customer_id=customer_id,
    )
    phone = Phone(**values)
    phone.derive()
    obj = phone_object(phone)
    return create_phone(
        phone,
        actor=actor,
        event=AuditEvent.PHONE_CREATION,
        context=context,
        obj=obj,
        changes={key: [None, value] for key, value in obj.items() if key != "account_id"},
    )


def phone_update(
    *,
    actor: Actor,
    context: AuditContext,
    account_id: int,
    phone_id: int,
    data: Mapping[str, Any],
    expected_version: str | None = None,
) -> Phone:
    """Apply a partial update (``data``: a subset of ``EDITABLE_FIELDS``) under the phone's lock.

    ``expected_version``: the version token the caller read (``phones.versions``; the admin
    form's hidden field, the API's ``If-Match``). When given and the locked phone is no longer
    at it, nothing is written and ``PhoneChangedMeanwhile`` (412) is raised: a change made
    since is never silently overwritten. Checked before the inactive rule: a phone inactivated
    since it was read is a change made since.

    One transaction: lock, compare, write the changed fields with one ``phone_change`` entry and,
    for a linked phone, its sync job (published on commit). Nothing changed means no write and
    no entry. An inactive phone cannot be updated (422); ``{"active": False}`` is the
    inactivation. Raises ``PhoneNotFound`` (404) for a phone that is not in ``account_id``,
    ``PhoneAlreadyExists`` (409) when the result would duplicate an active phone of the account,
    ``PhoneValidationError`` (400), ``OperatorNotAllowed`` (403).
    """
    actor.require(roles.CHANGE_PHONE, OperatorNotAllowed)
    cleaned = checks.check_phone_update(data)
    with changes() as work:
        phone = work.lock_phone(account_id=account_id, phone_id=phone_id, expected_version=expected_version)
        if not phone.active:
            raise PhoneInactive()
        before, previous_e164 = phone_object(phone), phone.e164
        changed = work.set(phone, cleaned)
        if not changed:
            return phone
        after = phone_object(phone)
        work.record(
            phone,
            actor=actor,
            event=AuditEvent.PHONE_CHANGE,
            context=context,
            obj=after,
            changes=changed_values(before, after),
        )
        if phone.provider_linked:
            outbox.sync_after_phone_change(
                work, phone=phone, changed=set(changed), previous_e164=previous_e164, actor=actor, context=context
            )
    return phone


def phone_inactivate(*, actor: Actor, context: AuditContext, account_id: int, phone_id: int) -> Phone:
    """Inactivation is the only "delete": ``phone_update`` with ``active=False``."""
    return phone_update(actor=actor, context=context, account_id=account_id, phone_id=phone_id, data={"active": False})
