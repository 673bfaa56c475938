"""Sinch Numbers API adapter (active numbers), plus callback signature/event helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from provider_sync.adapters._http import HttpProviderAdapter, timeout_from_config
from provider_sync.adapters.base import (
    E164_RE,
    PROVISIONING_UNSPECIFIED,
    SINCH,
    SINCH_VOICE_TARGET_KEYS,
    Attempt,
    Call,
    CallLog,
    PermanentProviderError,
    PushResult,
    RemoteNumber,
    ScheduledProvisioning,
    SinchSettings,
)

DEFAULT_BASE_URL = "https://numbers.api.sinch.com"
SIGNATURE_HEADER = "X-Sinch-Signature"


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def sinch_error_details(response: httpx.Response) -> tuple[str, tuple[str, ...]]:
    """``{"error": {"code","message","status","details":[...]}}`` -> (message, (status,))."""
    try:
        data = response.json()
    except ValueError:
        return (response.text.strip() or response.reason_phrase, ())
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return (response.text.strip() or response.reason_phrase, ())
    message = str(error.get("message") or response.reason_phrase)
    extras: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        for violation in detail.get("fieldViolations") or []:
            if isinstance(violation, dict):
                extras.append(f"{violation.get('field')}: {violation.get('description')}")
        if detail.get("resourceType") or detail.get("resourceName"):
            extras.append(f"{detail.get('resourceType')} {detail.get('resourceName')}".strip())
    if extras:
        message = f"{message} ({'; '.join(extras)})"
    status = error.get("status")
    return (message, (str(status),) if status else ())


def _scheduled(data: Any, kind: str) -> ScheduledProvisioning | None:
    if not isinstance(data, dict) or not data:
        return None
    common: dict[str, Any] = {
        "status": str(data.get("status") or PROVISIONING_UNSPECIFIED),
        "error_codes": tuple(str(c) for c in data.get("errorCodes") or ()),
        "last_updated_time": data.get("lastUpdatedTime"),
    }
    if kind == "sms":
        return ScheduledProvisioning(
            kind="sms",
            service_plan_id=data.get("servicePlanId") or None,
            campaign_id=data.get("campaignId") or None,
            **common,
        )
    vtype = data.get("type") or None
    target = data.get(SINCH_VOICE_TARGET_KEYS.get(vtype or "", ""), None) if vtype else None
    return ScheduledProvisioning(kind="voice", voice_type=vtype, voice_target_id=target or None, **common)


def parse_active_number(data: Mapping[str, Any], number_e164: str) -> RemoteNumber:
    """Normalise a Sinch active number JSON document."""
    sms = data.get("smsConfiguration") or {}
    voice = data.get("voiceConfiguration") or {}
    vtype = voice.get("type") or None
    vtarget = voice.get(SINCH_VOICE_TARGET_KEYS.get(vtype or "", ""), None) if vtype else None
    settings = SinchSettings(
        display_name=data.get("displayName") or None,
        sms_service_plan_id=sms.get("servicePlanId") or None,
        sms_campaign_id=sms.get("campaignId") or None,
        voice_type=vtype if vtarget else None,
        voice_target_id=vtarget or None,
        callback_url=data.get("callbackUrl") or None,
    )
    return RemoteNumber(
        provider=SINCH,
        number_e164=str(data.get("phoneNumber") or number_e164),
        settings=settings,
        raw=dict(data),
        sms_provisioning=_scheduled(sms.get("scheduledProvisioning"), "sms"),
        voice_provisioning=_scheduled(voice.get("scheduledVoiceProvisioning"), "voice"),
    )


# --------------------------------------------------------------------------------------------
# Planning: desired vs remote -> ordered PATCH bodies
# --------------------------------------------------------------------------------------------


def _free_text(body: dict[str, Any], key: str, want: str | None, current: str | None, prev: str | None) -> None:
    if want:
        if want != (current or ""):
            body[key] = want
    elif prev and current:
        body[key] = ""  # we set it before; the desired state no longer has it


def plan_sinch_requests(
    desired: SinchSettings, remote: RemoteNumber, previous: SinchSettings | None = None
) -> list[dict[str, Any]]:
    """The PATCH bodies (in order) that take ``remote`` to ``desired``; [] when in step.

    - unlink-before-relink: plan A -> B (or campaign C1 -> C2) is an unlink ("") then a link;
    - configuration objects are only present when they have something to say;
    - a running scheduled provisioning counts as what the number will hold.
    """
    cur = remote.settings
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    _free_text(
        first,
        "displayName",
        desired.display_name,
        cur.display_name,
        previous.display_name if previous else None,
    )
    _free_text(
        first,
        "callbackUrl",
        desired.callback_url,
        cur.callback_url,
        previous.callback_url if previous else None,
    )

    # SMS service plan / campaign.
    cur_plan, cur_campaign = cur.sms_service_plan_id or "", cur.sms_campaign_id or ""
    sp = remote.sms_provisioning
    if sp is not None and sp.running and sp.service_plan_id:
        cur_plan, cur_campaign = sp.service_plan_id, sp.campaign_id or ""
    want_plan, want_campaign = desired.sms_service_plan_id or "", desired.sms_campaign_id or ""
    if (want_plan, want_campaign) != (cur_plan, cur_campaign):
        link: dict[str, Any] = {"servicePlanId": want_plan}
        if want_campaign:
            link["campaignId"] = want_campaign
        if cur_plan and want_plan != cur_plan:
            unlink: dict[str, Any] = {"servicePlanId": ""}
            if cur_campaign:
                unlink["campaignId"] = ""
            first["smsConfiguration"] = unlink
            if want_plan:
                second["smsConfiguration"] = link
        elif cur_plan and cur_campaign and want_campaign != cur_campaign:
            first["smsConfiguration"] = {"servicePlanId": cur_plan, "campaignId": ""}
            if want_campaign:
                second["smsConfiguration"] = link
        elif want_plan:
            first["smsConfiguration"] = link

    # Voice.
    cur_vt, cur_vid = cur.voice_type, cur.voice_target_id
    vp = remote.voice_provisioning
    if vp is not None and vp.running and vp.voice_target_id:
        cur_vt, cur_vid = vp.voice_type, vp.voice_target_id
    want_vt = desired.voice_type if desired.voice_target_id else None
    want_vid = desired.voice_target_id or None
    if (want_vt, want_vid) != (cur_vt or None, cur_vid or None):
        if want_vt and want_vid:
            first["voiceConfiguration"] = {
                "type": want_vt,
                SINCH_VOICE_TARGET_KEYS[want_vt]: want_vid,
            }
        elif cur_vid and cur_vt in SINCH_VOICE_TARGET_KEYS:
            first["voiceConfiguration"] = {"type": cur_vt, SINCH_VOICE_TARGET_KEYS[cur_vt]: ""}

    bodies = [b for b in (first, second) if b]
    for body in bodies:  # never send an empty configuration object
        for key in ("smsConfiguration", "voiceConfiguration"):
            if key in body and not body[key]:
                del body[key]
    return [b for b in bodies if b]


def failed_provisioning_for(remote: RemoteNumber, desired: SinchSettings) -> ScheduledProvisioning | None:
    """The FAILED scheduled provisioning job whose target is the desired state, if any."""
    sp = remote.sms_provisioning
    if (
        sp is not None
        and sp.failed
        and (sp.service_plan_id or "") == (desired.sms_service_plan_id or "")
        and (sp.campaign_id or "") == (desired.sms_campaign_id or "")
    ):
        return sp
    vp = remote.voice_provisioning
    if vp is not None and vp.failed and (vp.voice_target_id or None) == (desired.voice_target_id or None):
        return vp
    return None


# --------------------------------------------------------------------------------------------
# Adapter
# --------------------------------------------------------------------------------------------


class SinchAdapter(HttpProviderAdapter):
    provider = SINCH

    def __init__(
        self,
        *,
        project_id: str,
        key_id: str,
        key_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            username=key_id,
            password=key_secret,
            timeout=timeout or httpx.Timeout(10.0),
            transport=transport,
        )
        self.project_id = project_id

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SinchAdapter:
        return cls(
            project_id=str(config["project_id"]),
            key_id=str(config["key_id"]),
            key_secret=str(config["key_secret"]),
            base_url=str(config.get("base_url") or DEFAULT_BASE_URL),
            timeout=timeout_from_config(config),
            transport=config.get("transport"),
        )

    def number_url(self, number_e164: str) -> str:
        return (
            f"{self.base_url}/v1/projects/{quote(self.project_id, safe='')}/activeNumbers/{quote(number_e164, safe='')}"
        )

    def _error_details(self, response: httpx.Response) -> tuple[str, tuple[str, ...]]:
        return sinch_error_details(response)

    def _check_number(self, number_e164: str, attempts: list[Attempt]) -> None:
        if not E164_RE.match(number_e164):
            raise self._local_error(f"{number_e164!r} is not an E.164 number", attempts, codes=("INVALID_NUMBER",))

    def _fetch(self, number_e164: str, attempts: list[Attempt]) -> RemoteNumber:
        response = self._request("GET", self.number_url(number_e164), attempts)
        return parse_active_number(self._json(response, attempts), number_e164)

    def fetch(self, number_e164: str, *, call: Call | None = None) -> RemoteNumber:
        attempts = CallLog(call)
        self._check_number(number_e164, attempts)
        return self._fetch(number_e164, attempts)

    def push(
        self,
        number_e164: str,
        desired: SinchSettings,
        previous: SinchSettings | None = None,
        *,
        call: Call | None = None,
    ) -> PushResult:
        """GET the number, then PATCH what differs (0, 1 or 2 requests, in order).

        Raises PermanentProviderError for invalid settings (nothing sent), 4xx answers, and a
        FAILED scheduled provisioning of the desired values (``codes`` = Sinch errorCodes);
        RetryableProviderError for 429/5xx/timeouts/connection errors. A failure between the
        unlink and the link leaves the number unlinked; pushing again completes it.
        """
        attempts = CallLog(call)
        if not isinstance(desired, SinchSettings):
            raise TypeError("SinchAdapter.push needs SinchSettings")
        self._check_number(number_e164, attempts)
        problems = desired.validate()
        if problems:
            raise self._local_error(
                "invalid Sinch settings: " + "; ".join(f"{f}: {m}" for f, m in problems),
                attempts,
                codes=("INVALID_SETTINGS",),
            )
        remote = self._fetch(number_e164, attempts)
        bodies = plan_sinch_requests(desired, remote, previous)
        for body in bodies:
            response = self._request("PATCH", self.number_url(number_e164), attempts, json_body=body)
            remote = parse_active_number(self._json(response, attempts), number_e164)
        self._raise_if_failed(remote, desired, attempts)
        return PushResult(attempts=attempts, remote=remote, provisioning=remote.provisioning, changed=bool(bodies))

    def poll_provisioning(self, number_e164: str, desired: SinchSettings, *, call: Call | None = None) -> PushResult:
        """One GET while waiting for scheduled provisioning; raises if it FAILED."""
        attempts = CallLog(call)
        self._check_number(number_e164, attempts)
        remote = self._fetch(number_e164, attempts)
        self._raise_if_failed(remote, desired, attempts)
        return PushResult(attempts=attempts, remote=remote, provisioning=remote.provisioning, changed=False)

    def _raise_if_failed(self, remote: RemoteNumber, desired: SinchSettings, attempts: list[Attempt]) -> None:
        failed = failed_provisioning_for(remote, desired)
        if failed is not None:
            codes = failed.error_codes or ("ERROR_CODE_UNSPECIFIED",)
            raise PermanentProviderError(
                f"Sinch {failed.kind} scheduled provisioning FAILED: {', '.join(codes)}",
                codes=codes,
                attempts=attempts,
                provider=SINCH,
            )


# --------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinchCallbackEvent:
    event_id: str
    timestamp: str | None
    project_id: str | None
    resource_type: str | None
    resource_id: str  # the number, E.164
    event_type: str
    status: str  # SUCCEEDED | FAILED
    failure_code: str | None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def sign_callback(raw_body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), raw_body, hashlib.sha1).hexdigest()


def verify_callback_signature(raw_body: bytes, signature_hex: str, secret: str) -> bool:
    """``X-Sinch-Signature`` check: HMAC-SHA1 hex of the raw body, constant-time compare."""
    if not signature_hex or not secret:
        return False
    expected = sign_callback(raw_body, secret)
    return hmac.compare_digest(expected, signature_hex.strip().lower())


def parse_callback_event(raw_body: bytes | str) -> SinchCallbackEvent:
    """Parse a Sinch provisioning callback; ValueError when it is not one."""
    try:
        data = json.loads(raw_body)
    except (TypeError, ValueError) as exc:
        raise ValueError("callback body is not JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("callback body is not a JSON object")
    missing = [k for k in ("eventId", "resourceId", "eventType", "status") if not data.get(k)]
    if missing:
        raise ValueError(f"callback is missing {', '.join(missing)}")
    # The number is looked up with it: a NUL (which PostgreSQL refuses), an object or 5,000
    # digits is not a number Sinch would send.
    resource_id = data["resourceId"]
    if not isinstance(resource_id, str) or not resource_id.isascii() or not E164_RE.fullmatch(resource_id):
        raise ValueError("callback resourceId is not an E.164 number")
    return SinchCallbackEvent(
        event_id=str(data["eventId"]),
        timestamp=data.get("timestamp"),
        project_id=data.get("projectId"),
        resource_type=data.get("resourceType"),
        resource_id=str(data["resourceId"]),
        event_type=str(data["eventType"]),
        status=str(data["status"]),
        failure_code=data.get("failureCode") or None,
        raw=data,
    )
