"""The Sinch API's rules for a PATCH: voice target keys, body validation (fieldViolations), and the
configuration a number has or is being provisioned to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.state import is_http_url

SINCH_VOICE_TARGET_KEYS: Mapping[str, str] = {"RTC": "appId", "EST": "trunkId", "FAX": "serviceId"}
PATCH_FIELDS = ("displayName", "smsConfiguration", "voiceConfiguration", "callbackUrl")

Problems = list[tuple[str, str]]  # (field, description): a 400's fieldViolations


def validate_patch(entry: dict[str, Any], body: Any) -> Problems:
    """The PATCH body's problems (empty when it may be applied)."""
    if not isinstance(body, dict):
        return [("", "request body must be a JSON object")]
    problems: Problems = [(key, "unknown field") for key in body if key not in PATCH_FIELDS]
    if "displayName" in body and not isinstance(body["displayName"], str):
        problems.append(("displayName", "must be a string"))
    if "callbackUrl" in body:
        url = body["callbackUrl"]
        if not isinstance(url, str):
            problems.append(("callbackUrl", "must be a string"))
        elif url and not is_http_url(url):
            problems.append(("callbackUrl", "must be a valid http or https URL"))
    if "smsConfiguration" in body:
        problems += _validate_sms(entry, body["smsConfiguration"])
    if "voiceConfiguration" in body:
        problems += _validate_voice(body["voiceConfiguration"])
    return problems


def _validate_sms(entry: dict[str, Any], sms: Any) -> Problems:
    problems = _object_problems("smsConfiguration", sms)
    if problems:
        return problems
    problems = [
        (f"smsConfiguration.{key}", "unknown field") for key in sms if key not in ("servicePlanId", "campaignId")
    ]
    if "servicePlanId" not in sms:
        problems.append(("smsConfiguration.servicePlanId", "is required"))
    for key in ("servicePlanId", "campaignId"):
        if key in sms and not isinstance(sms[key], str):
            problems.append((f"smsConfiguration.{key}", "must be a string"))
    if problems:
        return problems
    plan, campaign = sms["servicePlanId"], sms.get("campaignId")
    if not plan and campaign:
        problems.append(("smsConfiguration.campaignId", "a campaign needs a servicePlanId"))
    if campaign and entry["regionCode"] != "US":
        problems.append(("smsConfiguration.campaignId", "campaignId is only supported for US numbers"))
    eff_plan, eff_campaign = effective_sms(entry)
    if plan and eff_plan and plan != eff_plan:
        problems.append(
            (
                "smsConfiguration.servicePlanId",
                f"number is linked to service plan {eff_plan}: unlink it first (send an empty servicePlanId)",
            )
        )
    elif plan and plan == eff_plan and campaign and eff_campaign and campaign != eff_campaign:
        problems.append(
            (
                "smsConfiguration.campaignId",
                f"number is linked to campaign {eff_campaign}: unlink it first (send an empty campaignId)",
            )
        )
    return problems


def _object_problems(name: str, value: Any) -> Problems:
    if not isinstance(value, dict):
        return [(name, "must be an object")]
    if not value:
        return [(name, "must not be empty: omit the object when it has nothing to update")]
    return []


def _validate_voice(voice: Any) -> Problems:
    problems = _object_problems("voiceConfiguration", voice)
    if problems:
        return problems
    vtype = voice.get("type")
    if vtype not in SINCH_VOICE_TARGET_KEYS:
        return [("voiceConfiguration.type", "must be one of RTC, EST, FAX")]
    key = SINCH_VOICE_TARGET_KEYS[vtype]
    problems = [
        (f"voiceConfiguration.{other}", f"not allowed with type {vtype}")
        for other in voice
        if other not in ("type", key)
    ]
    if key not in voice:
        problems.append((f"voiceConfiguration.{key}", f"is required for type {vtype}"))
    elif not isinstance(voice[key], str):
        problems.append((f"voiceConfiguration.{key}", "must be a string"))
    return problems


def effective_sms(entry: dict[str, Any]) -> tuple[str, str]:
    """(plan, campaign) the number has or is being provisioned to."""
    job = entry["sms_job"]
    if job is not None and not job.get("final"):
        return job["servicePlanId"], job["campaignId"]
    return entry["sms"]["servicePlanId"], entry["sms"]["campaignId"]


def effective_voice(entry: dict[str, Any]) -> tuple[str, str]:
    """(type, target) the number has or is being provisioned to."""
    job = entry["voice_job"]
    if job is not None and not job.get("final"):
        return job["type"], job["target"]
    return entry["voice"]["type"], entry["voice"]["target"]
