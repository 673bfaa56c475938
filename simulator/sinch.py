"""The Sinch Numbers API (active numbers): GET, PATCH (checked by sinch_rules), scheduled provisioning, events."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from simulator.sinch_rules import SINCH_VOICE_TARGET_KEYS, effective_sms, effective_voice, validate_patch
from simulator.state import SINCH, Numbers, SimConfig, SimulatorError, check_basic, e164, now_iso

if TYPE_CHECKING:
    from simulator.callbacks import CallbackSender
    from simulator.faults import Faults

SINCH_PATH_RE = re.compile(r"^/v1/projects/(?P<project>[^/]+)/activeNumbers/(?P<number>[^/]+)$")
SINCH_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    422: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
VIEW_KEYS = (
    "phoneNumber",
    "projectId",
    "displayName",
    "regionCode",
    "type",
    "capability",
    "money",
    "paymentIntervalMonths",
    "nextChargeDate",
    "expireAt",
)


def sinch_error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "status": SINCH_STATUS_NAMES.get(status, "UNKNOWN"),
            "details": details or [],
        }
    }


class SinchNumbers(Numbers):
    """The active numbers (E.164 -> internal state) and what the API does with them."""

    provider = SINCH
    _key = staticmethod(e164)

    def __init__(self, lock: threading.RLock, config: SimConfig, faults: Faults, callbacks: CallbackSender) -> None:
        super().__init__(lock, config)
        self._faults = faults
        self._callbacks = callbacks

    # -- control side ------------------------------------------------------------------------------

    def seed(self, number: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a number; ``state`` keys are camelCase as in the API."""
        phone = e164(number)
        if len(phone) < 3:
            raise SimulatorError("number is required")
        sms = dict(state.get("smsConfiguration") or {})
        voice = dict(state.get("voiceConfiguration") or {})
        vtype = voice.get("type") or "RTC"
        if vtype not in SINCH_VOICE_TARGET_KEYS:
            raise SimulatorError(f"bad voice type {vtype!r}")
        entry: dict[str, Any] = {
            "phoneNumber": phone,
            "projectId": state.get("projectId") or state.get("project_id") or self._config.sinch_project_id,
            "displayName": state.get("displayName", ""),
            "regionCode": state.get("regionCode") or ("US" if phone.startswith("+1") else "BR"),
            "type": state.get("type") or "LOCAL",
            "capability": list(state.get("capability") or ["SMS", "VOICE"]),
            "money": state.get("money") or {"currencyCode": "USD", "amount": "2.00"},
            "paymentIntervalMonths": state.get("paymentIntervalMonths", 1),
            "nextChargeDate": state.get("nextChargeDate") or "2030-01-01T00:00:00Z",
            "expireAt": state.get("expireAt"),
            "callbackUrl": state.get("callbackUrl", ""),
            "sms": {"servicePlanId": sms.get("servicePlanId") or "", "campaignId": sms.get("campaignId") or ""},
            "sms_job": None,
            "voice": {"type": vtype, "target": voice.get(SINCH_VOICE_TARGET_KEYS[vtype]) or ""},
            "voice_job": None,
        }
        return self._store(phone, entry)

    # -- the API -----------------------------------------------------------------------------------

    def handle(self, method: str, project: str, number: str, auth: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        if check_basic(auth, {self._config.sinch_key_id: self._config.sinch_key_secret}) is None:
            return 401, sinch_error(401, "Invalid credentials: check the key id and key secret")
        if project != self._config.sinch_project_id:
            return 403, sinch_error(403, f"The key does not have access to project {project}")
        with self._lock:
            self.advance()
            entry = self._numbers.get(number)
            if entry is None or entry["projectId"] != project:
                details = [
                    {
                        "type": "ResourceInfo",
                        "resourceType": "ActiveNumber",
                        "resourceName": number,
                        "owner": "",
                        "description": "",
                    }
                ]
                return 404, sinch_error(404, "Number not found", details)
            if method == "GET":
                return 200, self._view(entry)
            if method != "PATCH":
                return 405, sinch_error(405, f"Method {method} not allowed")
            problems = validate_patch(entry, body)
            if problems:
                violations = [{"field": f, "description": d} for f, d in problems]
                details = [{"type": "BadRequest", "fieldViolations": violations}]
                return 400, sinch_error(400, "Request contains an invalid argument.", details)
            self._apply(entry, body)
            return 200, self._view(entry)

    def _view(self, entry: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        sms: dict[str, Any] = dict(entry["sms"])
        job = entry["sms_job"]
        if job is not None:
            sms["scheduledProvisioning"] = {
                "servicePlanId": job["servicePlanId"],
                "campaignId": job["campaignId"],
                **self._job_progress(job, now),
                "errorCodes": list(job.get("errorCodes") or []),
            }
        voice_key = SINCH_VOICE_TARGET_KEYS[entry["voice"]["type"]]
        voice: dict[str, Any] = {"type": entry["voice"]["type"], voice_key: entry["voice"]["target"]}
        vjob = entry["voice_job"]
        if vjob is not None:
            vsched: dict[str, Any] = {
                "type": vjob["type"],
                SINCH_VOICE_TARGET_KEYS[vjob["type"]]: vjob["target"],
                **self._job_progress(vjob, now),
            }
            if vjob.get("errorCodes"):
                vsched["errorCodes"] = list(vjob["errorCodes"])
            voice["scheduledVoiceProvisioning"] = vsched
        view = {k: entry[k] for k in VIEW_KEYS}
        view["smsConfiguration"] = sms
        view["voiceConfiguration"] = voice
        view["callbackUrl"] = entry["callbackUrl"]
        return view

    # -- applying a valid PATCH --------------------------------------------------------------------

    def _apply(self, entry: dict[str, Any], body: dict[str, Any]) -> None:
        now = time.time()
        if "displayName" in body:
            entry["displayName"] = body["displayName"]
        if "callbackUrl" in body:
            entry["callbackUrl"] = body["callbackUrl"]
        if "smsConfiguration" in body:
            self._apply_sms(entry, body["smsConfiguration"], now)
        if "voiceConfiguration" in body:
            self._apply_voice(entry, body["voiceConfiguration"], now)

    def _apply_sms(self, entry: dict[str, Any], sms: dict[str, Any], now: float) -> None:
        plan, campaign = sms["servicePlanId"], sms.get("campaignId")
        eff_plan, eff_campaign = effective_sms(entry)
        direct = entry["sms"]
        if not plan:  # unlink from the service (and its campaign): immediate
            had_plan, had_campaign = direct["servicePlanId"] or eff_plan, direct["campaignId"] or eff_campaign
            entry["sms"] = {"servicePlanId": "", "campaignId": ""}
            entry["sms_job"] = None
            if had_campaign:
                self._notify(entry, "DEPROVISIONING_FROM_CAMPAIGN", "SUCCEEDED", None)
            if had_plan:
                self._notify(entry, "DEPROVISIONING_FROM_SMS_PLATFORM", "SUCCEEDED", None)
            return
        target_campaign = campaign if campaign is not None else (eff_campaign if plan == eff_plan else "")
        if (plan, target_campaign) == (eff_plan, eff_campaign):
            return  # already there (or on its way): nothing to do
        if plan == direct["servicePlanId"] and not target_campaign:  # unlink the campaign: immediate
            had_campaign = direct["campaignId"] or eff_campaign
            entry["sms"] = {"servicePlanId": plan, "campaignId": ""}
            entry["sms_job"] = None
            if had_campaign:
                self._notify(entry, "DEPROVISIONING_FROM_CAMPAIGN", "SUCCEEDED", None)
            return
        events = []
        if plan != direct["servicePlanId"]:
            events.append("PROVISIONING_TO_SMS_PLATFORM")
        if target_campaign and target_campaign != direct["campaignId"]:
            events.append("PROVISIONING_TO_CAMPAIGN")
        job = {
            "servicePlanId": plan,
            "campaignId": target_campaign,
            "started": now,
            "events": events or ["PROVISIONING_TO_SMS_PLATFORM"],
        }
        entry["sms_job"] = job
        self._start_job(entry, "sms", job, now)

    def _apply_voice(self, entry: dict[str, Any], voice: dict[str, Any], now: float) -> None:
        vtype = voice["type"]
        target = voice[SINCH_VOICE_TARGET_KEYS[vtype]]
        if not target:
            had = entry["voice"]["target"] or effective_voice(entry)[1]
            entry["voice"] = {"type": vtype, "target": ""}
            entry["voice_job"] = None
            if had:
                self._notify(entry, "DEPROVISIONING_FROM_VOICE_PLATFORM", "SUCCEEDED", None)
            return
        if (vtype, target) == effective_voice(entry):
            return
        # While provisioning, the target under voiceConfiguration is empty (as documented).
        entry["voice"] = {"type": vtype, "target": ""}
        job = {"type": vtype, "target": target, "started": now, "events": ["PROVISIONING_TO_VOICE_PLATFORM"]}
        entry["voice_job"] = job
        self._start_job(entry, "voice", job, now)

    # -- scheduled provisioning --------------------------------------------------------------------

    def _start_job(self, entry: dict[str, Any], kind: str, job: dict[str, Any], now: float) -> None:
        fault = self._faults.take_for_provisioning(entry["phoneNumber"], kind)
        if fault is None:
            return
        job["fail_codes"] = fault["error_codes"]
        if fault["immediate"]:
            self._fail_job(entry, job, now)

    def advance(self) -> None:
        """Finish the scheduled provisioning jobs whose time is up."""
        with self._lock:
            now = time.time()
            for entry in self._numbers.values():
                for kind in ("sms", "voice"):
                    job = entry[f"{kind}_job"]
                    if job is None or job.get("final") or now - job["started"] < self._config.provisioning_seconds:
                        continue
                    if job.get("fail_codes"):
                        self._fail_job(entry, job, now)
                        continue
                    if kind == "sms":
                        entry["sms"] = {"servicePlanId": job["servicePlanId"], "campaignId": job["campaignId"]}
                    else:
                        entry["voice"] = {"type": job["type"], "target": job["target"]}
                    entry[f"{kind}_job"] = None
                    for event_type in job["events"]:
                        self._notify(entry, event_type, "SUCCEEDED", None)

    def _fail_job(self, entry: dict[str, Any], job: dict[str, Any], now: float) -> None:
        job["final"] = "FAILED"
        job["errorCodes"] = list(job["fail_codes"])
        job["updated"] = now
        self._notify(entry, job["events"][-1], "FAILED", job["errorCodes"][0])

    def _job_progress(self, job: dict[str, Any], now: float) -> dict[str, Any]:
        """``status`` (WAITING, IN_PROGRESS, then FAILED when it failed) and ``lastUpdatedTime``."""
        if job.get("final"):
            return {"status": str(job["final"]), "lastUpdatedTime": now_iso(float(job["updated"]))}
        half_time = self._config.provisioning_seconds / 2
        status = "WAITING" if now - job["started"] < half_time else "IN_PROGRESS"
        half = job["started"] + half_time
        return {"status": status, "lastUpdatedTime": now_iso(half if now >= half else float(job["started"]))}

    def _notify(self, entry: dict[str, Any], event_type: str, status: str, failure_code: str | None) -> None:
        """Queue the signed callback event for the number's callbackUrl (if it has one)."""
        url = entry.get("callbackUrl")
        if not url:
            return
        event = {
            "eventId": str(uuid.uuid4()),
            "timestamp": now_iso(),
            "projectId": entry["projectId"],
            "resourceType": "ACTIVE_NUMBER",
            "resourceId": entry["phoneNumber"],
            "eventType": event_type,
            "status": status,
            "failureCode": failure_code or "",
        }
        self._callbacks.send(url, event)
