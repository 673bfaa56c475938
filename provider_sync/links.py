"""Link services: link a phone to a provider number, change or remove the link, re-sync.

Each is one transaction through the phones unit of work: lock the phone, then its link (lock
order phone -> link -> job), write the link, record the audit entry on the phone's chain and
enqueue the sync job (outbox), published when the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from audit.models import AuditEvent
from audit.services import AuditContext
from backoffice import roles
from backoffice.actor import Actor
from phones.changes import changes
from phones.errors import OperatorNotAllowed, PhoneInactive, PhoneNotFound, PhoneNotLinked
from phones.models import Phone, ProviderLink, SyncJob, SyncReason
from phones.objects import changed_values, job_object, link_object
from phones.outbox import queue_release
from provider_sync.checks import check_link, check_link_target

LINK_FIELDS = ["provider", "remote_number", "settings", "linked", "pushed_settings"]


def provider_link_set(
    *,
    actor: Actor,
    context: AuditContext,
    account_id: int,
    phone_id: int,
    provider: str,
    settings: Mapping[str, Any],
    remote_number: str | None = "",
) -> ProviderLink:
    """Link a phone to a provider number, or change its link; queues the sync.

    One transaction: phone lock, link write, ``phone_link_change`` audit entry, outbox job.
    Nothing changed means no write. Switching provider or number releases the old number first
    (its own job, run before the new one). Raises ``PhoneValidationError`` (400; also for a
    number libphonenumber finds impossible, ``check_link_target``), ``PhoneNotFound`` (404),
    ``PhoneInactive`` (422), ``OperatorNotAllowed`` (403).
    """
    actor.require(roles.MANAGE_PROVIDER_LINK, OperatorNotAllowed)
    cleaned, remote = check_link(provider=provider, settings=settings, remote_number=remote_number)
    with changes() as work:
        phone = work.lock_phone(account_id=account_id, phone_id=phone_id)
        if not phone.active:
            raise PhoneInactive()
        check_link_target(remote_number=remote, phone_e164=phone.e164)
        link = work.lock_link(phone)
        before: dict[str, Any] = {}
        if link is None:
            link = ProviderLink(phone=phone, provider=provider, remote_number=remote, settings=cleaned)
            reason = SyncReason.LINK
        else:
            if link.linked and (link.provider, link.remote_number, link.settings) == (provider, remote, cleaned):
                return link
            before = link_object(link)
            old_target = (link.provider, link.number_e164)
            reason = SyncReason.LINK_CHANGE if link.linked else SyncReason.LINK
            link.provider, link.remote_number, link.settings, link.linked = provider, remote, cleaned, True
            if old_target != (link.provider, link.number_e164):
                # The old number is ours no more: give up its services (own job, first in line),
                # and forget what we pushed there.
                queue_release(
                    work,
                    link=link,
                    phone=phone,
                    target=old_target,
                    settings=before["settings"],
                    actor=actor,
                    context=context,
                )
                link.pushed_settings = None
        work.save_link(link, LINK_FIELDS)
        work.set_linked(phone, True)
        work.record(
            phone,
            actor=actor,
            event=AuditEvent.PHONE_LINK_CHANGE,
            context=context,
            obj=(after := link_object(link)),
            changes=changed_values(before, after),
        )
        work.enqueue_job(link=link, phone=phone, reason=reason, actor=actor, context=context)
    return link


def provider_link_remove(*, actor: Actor, context: AuditContext, account_id: int, phone_id: int) -> ProviderLink:
    """Unlink: the number gives up its SMS and voice services (queued sync), the link stays as
    history with ``linked=False`` and is no longer reconciled. Already unlinked: no write.
    Raises ``PhoneNotLinked`` (409) for a phone that never had a link."""
    actor.require(roles.MANAGE_PROVIDER_LINK, OperatorNotAllowed)
    with changes() as work:
        phone = work.lock_phone(account_id=account_id, phone_id=phone_id)
        link = work.lock_link(phone)
        if link is None:
            raise PhoneNotLinked()
        if not link.linked:
            return link
        link.linked = False
        work.save_link(link, ["linked"])
        work.set_linked(phone, False)
        work.record(
            phone,
            actor=actor,
            event=AuditEvent.PHONE_UNLINK,
            context=context,
            obj=link_object(link),
            changes={"linked": [True, False]},
        )
        work.enqueue_job(link=link, phone=phone, reason=SyncReason.UNLINK, actor=actor, context=context)
    return link


def phone_resync(*, actor: Actor, context: AuditContext, account_id: int, phone_id: int) -> SyncJob:
    """Queue a fresh push of the phone's desired state (``phone_sync_requested`` entry).

    Raises ``PhoneNotLinked`` (409) for a phone without a provider link.
    """
    actor.require(roles.RESYNC_PHONE, OperatorNotAllowed)
    with changes() as work:
        phone = work.lock_phone(account_id=account_id, phone_id=phone_id)
        link = work.lock_link(phone)
        if link is None:
            raise PhoneNotLinked()
        job = work.enqueue_job(link=link, phone=phone, reason=SyncReason.RESYNC, actor=actor, context=context)
        work.record(
            phone,
            actor=actor,
            event=AuditEvent.PHONE_SYNC_REQUESTED,
            context=context,
            obj=job_object(job, phone),
            changes={},
        )
    return job


def phones_resync(*, actor: Actor, context: AuditContext, phone_ids: Iterable[int]) -> list[SyncJob]:
    """Re-sync a selection: one transaction per phone; phones without a link are skipped."""
    actor.require(roles.RESYNC_PHONE, OperatorNotAllowed)
    jobs = []
    for phone_id, account_id in Phone.objects.filter(pk__in=list(phone_ids)).values_list("pk", "account_id"):
        try:
            jobs.append(phone_resync(actor=actor, context=context, account_id=account_id, phone_id=phone_id))
        except (PhoneNotLinked, PhoneNotFound):
            continue
    return jobs
