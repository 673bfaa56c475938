"""What audit entries say about phones, links and sync jobs: the ``object`` of each event.

``phone_object`` is the contract's (area and country codes as strings); the link and job objects
are ours, in the same envelope. Pure functions of the rows.
"""

from __future__ import annotations

from typing import Any

from phones.models import Phone, ProviderLink, SyncJob


def phone_object(phone: Phone) -> dict[str, Any]:
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


def link_object(link: ProviderLink) -> dict[str, Any]:
    return {
        "phone_id": link.phone_id,
        "account_id": link.phone.account_id,
        "provider": link.provider,
        "remote_number": link.remote_number,
        "number": link.number_e164,
        "linked": link.linked,
        "settings": dict(link.settings),
    }


def job_object(job: SyncJob, phone: Phone) -> dict[str, Any]:
    return {
        "phone_id": phone.pk,
        "account_id": phone.account_id,
        "job_id": job.pk,
        "provider": job.provider,
        "number": job.number,
        "reason": job.reason,
        "status": job.status,
        "attempts": job.attempts,
        "desired": job.desired,
        "provider_status": job.last_status,
        "message": job.last_error,
        "error_codes": list(job.last_error_codes),
    }


def changed_values(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """The field-level change an entry keeps beside its payload: ``{field: [old, new]}``."""
    return {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}


def phone_audit_state(phone_id: int) -> tuple[dict[str, Any], str] | None:
    """A phone as ``audit.integrity`` compares it with its chain: its audit object and its
    recorded chain head; None when there is no such phone."""
    phone = Phone.objects.filter(pk=phone_id).first()
    return None if phone is None else (phone_object(phone), phone.audit_head)
