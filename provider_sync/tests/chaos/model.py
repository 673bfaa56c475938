"""The model of what the API accepted (numbers, phones, links) and the providers' views."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import phonenumbers

from provider_sync.checks import settings_fields
from provider_sync.tests.chaos.config import PROVISIONING_RUNNING, SINCH_VOICE_KEYS

# --- The model: what the API accepted -----------------------------------------------------------


@dataclass
class Number:
    national: str  # as the API takes it in "number"
    area_code: int | None
    country_code: int
    e164: str


class NumberPool:
    """Unique, valid numbers: Brazilian mobiles (+55 11 9xxxx-xxxx) and US numbers."""

    US_AREAS = (202, 212, 312, 415, 617, 646)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def new(self, country: str) -> Number:
        while True:
            if country == "BR":
                digits = f"9{self.rng.randint(0, 9999):04d}{self.rng.randint(0, 9999):04d}"
                number = Number(f"{digits[:5]}-{digits[5:]}", 11, 55, f"+5511{digits}")
            else:
                national = (
                    f"{self.rng.choice(self.US_AREAS)}{self.rng.randint(200, 999)}{self.rng.randint(0, 9999):04d}"
                )
                number = Number(national, None, 1, f"+1{national}")
            if number.e164 in self.used:
                continue
            if not phonenumbers.is_valid_number(phonenumbers.parse(number.e164, None)):
                continue
            self.used.add(number.e164)
            return number


@dataclass
class LinkModel:
    provider: str
    settings: dict[str, Any]  # every field of the provider's settings, None when not set
    linked: bool = True


@dataclass
class PhoneModel:
    key: int
    account_id: int
    country: str
    number: Number
    type: str
    callback: bool  # its Sinch links always carry our callback URL
    pk: int | None = None
    extension: str | None = None
    active: bool = True
    link: LinkModel | None = None

    @property
    def path(self) -> str:
        return f"/accounts/v1/accounts/{self.account_id}/phones/{self.pk}"

    @property
    def linked(self) -> bool:
        return self.link is not None and self.link.linked


def full_settings(provider: str, sent: dict[str, Any]) -> dict[str, Any]:
    return {key: sent.get(key) for key in settings_fields(provider)}


def sinch_services(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "sms_service_plan_id": settings.get("sms_service_plan_id") or None,
        "sms_campaign_id": settings.get("sms_campaign_id") or None,
        "voice_target_id": settings.get("voice_target_id") or None,
        "voice_type": (settings.get("voice_type") or None) if settings.get("voice_target_id") else None,
    }


def sinch_view(state: dict[str, Any]) -> dict[str, Any]:
    """A Sinch number's state (the API's GET) in our settings' terms."""
    sms = state.get("smsConfiguration") or {}
    voice = state.get("voiceConfiguration") or {}
    vtype = voice.get("type")
    target = voice.get(SINCH_VOICE_KEYS.get(vtype or "", ""), "") or None
    running = [
        name
        for name, job in (("sms", sms.get("scheduledProvisioning")), ("voice", voice.get("scheduledVoiceProvisioning")))
        if job and job.get("status") in PROVISIONING_RUNNING
    ]
    return {
        "sms_service_plan_id": sms.get("servicePlanId") or None,
        "sms_campaign_id": sms.get("campaignId") or None,
        "voice_target_id": target,
        "voice_type": vtype if target else None,
        "display_name": state.get("displayName") or None,
        "callback_url": state.get("callbackUrl") or None,
        "provisioning_running": running,
    }


def plivo_view(state: dict[str, Any]) -> dict[str, Any]:
    application = state.get("application")
    app_id = [p for p in str(application).split("/") if p][-1] if application else None
    return {"alias": state.get("alias") or None, "app_id": app_id}
