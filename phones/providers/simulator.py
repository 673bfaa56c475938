"""In-memory simulator of the Sinch Numbers (active numbers) and Plivo Number APIs.

One threaded HTTP server on loopback serves both APIs plus a JSON control API. Plain Python (no
Django), used by the tests and by ``manage.py run_provider_simulator``.

Provider APIs (same base URL for both):
  Sinch  GET|PATCH /v1/projects/{projectId}/activeNumbers/{+E164, url-encoded}   Basic key_id:key_secret
  Plivo  GET|POST  /v1/Account/{auth_id}/Number/{digits}/                       Basic auth_id:auth_token
  Sinch validation answers 400 INVALID_ARGUMENT with fieldViolations (empty config object, link
  to another plan/campaign without unlinking first, campaign without plan or on a non-US number,
  bad voice type / missing target key, unknown fields, bad callbackUrl). A servicePlanId (or a
  voice target) starts scheduled provisioning: WAITING for the first half of
  ``provisioning_seconds``, IN_PROGRESS for the second, then the values stand directly under the
  configuration (or FAILED with errorCodes when a fault says so). Unlinking ("") is immediate.
  When a job ends and the number has a callbackUrl, a signed event is POSTed from a worker thread
  (``X-Sinch-Signature`` = HMAC-SHA1 hex of the body with ``callback_secret``); deprovisioning
  (unlink) events are sent too.
  Plivo: POST answers 202 {"message": "changed", "api_id"}; 400 for unknown/non-string fields, a
  compliance_application_id change unless compliance_status is pending/rejected, a malformed
  subaccount; 401 for bad credentials, a path auth_id that is not the caller, or a subaccount move
  by a subaccount (SA...) caller; 404 unknown number (or no trailing slash); 405 other methods.

Control API (JSON):
  POST   /_sim/reset                      -> {"ok": true}  (numbers, faults, requests, callbacks)
  POST   /_sim/numbers                    body {"provider", "number", ...state} or {"numbers": [...]}
         Sinch state camelCase as the API: projectId, displayName, regionCode (default US for +1,
         else BR), type, capability, callbackUrl, smsConfiguration {servicePlanId, campaignId},
         voiceConfiguration {type, appId|trunkId|serviceId}. Plivo state snake_case: alias,
         app_id, sub_account, compliance_application_id, compliance_status (default "approved"
         when a compliance application is given, else "pending"), number_type, region.
         -> 201 {"numbers": [{"provider", "number", "state"}]}
  GET    /_sim/numbers                    -> {"numbers": [{"provider", "number", "state"}]}
  GET    /_sim/numbers/{provider}/{number} -> {"provider", "number", "state"} (state = the API's GET) | 404
  GET    /_sim/requests?provider=&number= -> {"requests": [{"id", "provider", "method", "path", "query",
         "number", "body", "headers" (no Authorization), "status" (null if hung), "fault",
         "timestamp", "duration_ms"}]}
  DELETE /_sim/requests                   -> {"ok": true}
  POST   /_sim/faults                     body fault or {"faults": [...]} -> 201 {"faults": [... with "id"]}
  GET    /_sim/faults | DELETE /_sim/faults
  GET    /_sim/callbacks                  -> {"callbacks": [{"url", "event", "body", "signature", "status",
         "error", "delivered_at"}]}
  GET|POST /_sim/config                   body {"provisioning_seconds": float} -> current config
  POST   /_sim/sink  (records any POST, e.g. as a callbackUrl)   GET /_sim/sink -> {"received": [...]}

Faults: {"kind": "status"|"rate_limit"|"latency"|"hang"|"provisioning_failure",
  "provider": "sinch"|"plivo"|null, "number": "+1..."|null, "method": "PATCH"|null,
  "count": 1 (null = until deleted), "status": 500, "body": {...}|"text"|null (default: the
  provider's error shape), "retry_after": seconds (rate_limit), "latency_ms": 200 (latency: added,
  then the request proceeds), "hang_seconds": 30 (hang: hold the connection, then drop it
  unanswered), "error_codes": ["INTERNAL_ERROR"], "target": "sms"|"voice"|null, "immediate": false
  (provisioning_failure: the next scheduled provisioning of that number ends FAILED; immediate
  makes the PATCH response itself show FAILED)}.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from phones.providers.base import PLIVO, PLIVO_COMPLIANCE_EDITABLE, SINCH, SINCH_VOICE_TARGET_KEYS
from phones.providers.sinch import SIGNATURE_HEADER, sign_callback

DEFAULT_SINCH_PROJECT_ID = "sim-project"
DEFAULT_SINCH_KEY_ID = "sim-key-id"
DEFAULT_SINCH_KEY_SECRET = "sim-key-secret"
DEFAULT_CALLBACK_SECRET = "sim-callback-secret"
DEFAULT_PLIVO_AUTH_ID = "MASIMULATOR000000001"
DEFAULT_PLIVO_AUTH_TOKEN = "sim-plivo-token"
DEFAULT_PLIVO_SUBACCOUNTS: Mapping[str, str] = {"SASIMULATOR000000001": "sim-plivo-sub-token"}

MAX_LOG = 5000  # recorded requests / callbacks kept
FAULT_KINDS = ("status", "rate_limit", "latency", "hang", "provisioning_failure")
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
SINCH_PATH_RE = re.compile(r"^/v1/projects/(?P<project>[^/]+)/activeNumbers/(?P<number>[^/]+)$")
PLIVO_PATH_RE = re.compile(r"^/v1/Account/(?P<auth_id>[^/]+)/Number/(?P<number>[^/]+)/$")
PLIVO_SUBACCOUNT_RE = re.compile(r"^SA[A-Z0-9]{18}$")


def _now_iso(ts: float | None = None) -> str:
    when = datetime.fromtimestamp(ts, UTC) if ts is not None else datetime.now(UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _e164(number: str) -> str:
    return "+" + _digits(unquote(number))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class SimulatorError(Exception):
    """A bad control API request (answered 400)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of new keep-alive connections (workers
    # pushing batches concurrently) overflowed it and the kernel reset them. Providers' front
    # ends accept far more.
    request_queue_size = 1024
    sim: ProviderSimulator


class ProviderSimulator:
    """State, behaviour and lifecycle of the simulator. Build it with ``make_simulator``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sinch_project_id: str = DEFAULT_SINCH_PROJECT_ID,
        sinch_key_id: str = DEFAULT_SINCH_KEY_ID,
        sinch_key_secret: str = DEFAULT_SINCH_KEY_SECRET,
        plivo_auth_id: str = DEFAULT_PLIVO_AUTH_ID,
        plivo_auth_token: str = DEFAULT_PLIVO_AUTH_TOKEN,
        plivo_subaccounts: Mapping[str, str] | None = None,
        provisioning_seconds: float = 1.0,
        callback_secret: str = DEFAULT_CALLBACK_SECRET,
        callback_timeout: float = 5.0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the provider simulator only listens on loopback, not {host!r}")
        self.sinch_project_id = sinch_project_id
        self.sinch_key_id = sinch_key_id
        self.sinch_key_secret = sinch_key_secret
        self.plivo_auth_id = plivo_auth_id
        self.plivo_auth_token = plivo_auth_token
        self.plivo_subaccounts: dict[str, str] = dict(
            DEFAULT_PLIVO_SUBACCOUNTS if plivo_subaccounts is None else plivo_subaccounts
        )
        self.provisioning_seconds = float(provisioning_seconds)
        self.callback_secret = callback_secret
        self.callback_timeout = callback_timeout

        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._sinch: dict[str, dict[str, Any]] = {}  # E.164 -> internal state
        self._plivo: dict[str, dict[str, Any]] = {}  # digits -> internal state
        self._faults: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []
        self._callbacks: list[dict[str, Any]] = []
        self._sink: list[dict[str, Any]] = []
        self._fault_seq = 0
        self._request_seq = 0
        self._callback_queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._serving = False

        self._server = _Server((host, port), _Handler)
        self._server.sim = self

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _start_workers(self) -> None:
        for target, name in ((self._tick_loop, "sim-ticker"), (self._callback_loop, "sim-callbacks")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def start(self) -> ProviderSimulator:
        """Serve in background threads; returns self."""
        self._start_workers()
        self._serving = True
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-server", daemon=True
        )
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` or KeyboardInterrupt."""
        self._start_workers()
        self._serving = True
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False
            self.stop()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._serving:
            self._serving = False
            self._server.shutdown()
        self._server.server_close()
        self._callback_queue.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def __enter__(self) -> ProviderSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- python-side control (the /_sim/ endpoints call these) ---------------------------------

    def reset(self) -> None:
        with self._lock:
            self._sinch.clear()
            self._plivo.clear()
            self._faults.clear()
            self._requests.clear()
            self._callbacks.clear()
            self._sink.clear()

    def seed(self, provider: str, number: str, **state: Any) -> dict[str, Any]:
        """Create or replace a number. Sinch keys are camelCase as in the API (displayName,
        regionCode, type, capability, callbackUrl, smsConfiguration, voiceConfiguration,
        projectId); Plivo keys snake_case (alias, app_id, sub_account, compliance_application_id,
        compliance_status, number_type, region)."""
        if provider == SINCH:
            return self._seed_sinch(number, state)
        if provider == PLIVO:
            return self._seed_plivo(number, state)
        raise SimulatorError(f"unknown provider {provider!r}")

    def _seed_sinch(self, number: str, state: Mapping[str, Any]) -> dict[str, Any]:
        e164 = _e164(number)
        if len(e164) < 3:
            raise SimulatorError("number is required")
        sms = dict(state.get("smsConfiguration") or {})
        voice = dict(state.get("voiceConfiguration") or {})
        vtype = voice.get("type") or "RTC"
        if vtype not in SINCH_VOICE_TARGET_KEYS:
            raise SimulatorError(f"bad voice type {vtype!r}")
        entry: dict[str, Any] = {
            "phoneNumber": e164,
            "projectId": state.get("projectId") or state.get("project_id") or self.sinch_project_id,
            "displayName": state.get("displayName", ""),
            "regionCode": state.get("regionCode") or ("US" if e164.startswith("+1") else "BR"),
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
        with self._lock:
            self._sinch[e164] = entry
            return {"provider": SINCH, "number": e164, "state": self._sinch_view(entry)}

    def _seed_plivo(self, number: str, state: Mapping[str, Any]) -> dict[str, Any]:
        digits = _digits(unquote(number))
        if not digits:
            raise SimulatorError("number is required")
        compliance_id = state.get("compliance_application_id")
        entry: dict[str, Any] = {
            "number": digits,
            "alias": state.get("alias"),
            "app_id": state.get("app_id"),
            "sub_account": state.get("sub_account") or state.get("subaccount"),
            "compliance_application_id": compliance_id,
            "compliance_status": state.get("compliance_status") or ("approved" if compliance_id else "pending"),
            "number_type": state.get("number_type") or "local",
            "region": state.get("region") or "United States",
            "added_on": state.get("added_on") or "2024-01-15",
            "renewal_date": state.get("renewal_date") or "2030-01-15",
            "monthly_rental_rate": state.get("monthly_rental_rate") or "0.80000",
        }
        with self._lock:
            self._plivo[digits] = entry
            return {"provider": PLIVO, "number": digits, "state": self._plivo_view(entry)}

    def number_state(self, provider: str, number: str) -> dict[str, Any] | None:
        """The number as the provider's GET would answer it (None when unknown)."""
        with self._lock:
            self._advance()
            if provider == SINCH:
                entry = self._sinch.get(_e164(number))
                return None if entry is None else self._sinch_view(entry)
            if provider == PLIVO:
                entry = self._plivo.get(_digits(unquote(number)))
                return None if entry is None else self._plivo_view(entry)
        raise SimulatorError(f"unknown provider {provider!r}")

    def all_numbers(self) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            rows = [{"provider": SINCH, "number": k, "state": self._sinch_view(v)} for k, v in self._sinch.items()]
            rows += [{"provider": PLIVO, "number": k, "state": self._plivo_view(v)} for k, v in self._plivo.items()]
            return rows

    def recorded_requests(self, provider: str | None = None, number: str | None = None) -> list[dict[str, Any]]:
        want = _digits(unquote(number)) if number else None
        with self._lock:
            return [
                dict(r)
                for r in self._requests
                if (provider is None or r["provider"] == provider)
                and (want is None or _digits(r.get("number") or "") == want)
            ]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """Add a fault (keys as in the module docstring, "Faults"); returns it with its id."""
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise SimulatorError(f"fault kind must be one of {', '.join(FAULT_KINDS)}")
        provider = spec.get("provider")
        if provider not in (None, SINCH, PLIVO):
            raise SimulatorError("fault provider must be sinch, plivo or null")
        count = spec.get("count", 1)
        if count is not None and (not isinstance(count, int) or count < 1):
            raise SimulatorError("count must be a positive integer or null (unlimited)")
        status = int(spec.get("status") or (429 if kind == "rate_limit" else 500))
        fault: dict[str, Any] = {
            "kind": kind,
            "provider": provider,
            "number": _digits(unquote(spec["number"])) if spec.get("number") else None,
            "method": str(spec["method"]).upper() if spec.get("method") else None,
            "count": count,
            "status": status,
            "body": spec.get("body"),
            "retry_after": spec.get("retry_after"),
            "latency_ms": float(spec.get("latency_ms") or 0),
            "hang_seconds": float(spec.get("hang_seconds") or 30),
            "error_codes": list(spec.get("error_codes") or ["INTERNAL_ERROR"]),
            "target": spec.get("target"),
            "immediate": bool(spec.get("immediate", False)),
        }
        with self._lock:
            self._fault_seq += 1
            fault["id"] = self._fault_seq
            self._faults.append(fault)
            return dict(fault)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(f) for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._callbacks]

    def sink(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._sink]

    def configure(self, **options: Any) -> dict[str, Any]:
        with self._lock:
            if options.get("provisioning_seconds") is not None:
                self.provisioning_seconds = float(options["provisioning_seconds"])
            return {"provisioning_seconds": self.provisioning_seconds}

    # -- faults -------------------------------------------------------------------------------

    def _consume(self, fault: dict[str, Any]) -> None:
        if fault["count"] is not None:
            fault["count"] -= 1
            if fault["count"] <= 0:
                self._faults.remove(fault)

    def _matches(self, fault: dict[str, Any], provider: str, number: str | None, method: str | None) -> bool:
        return (
            (fault["provider"] in (None, provider))
            and (fault["number"] is None or fault["number"] == _digits(number or ""))
            and (fault["method"] is None or method is None or fault["method"] == method)
        )

    def _take_request_faults(
        self, provider: str, number: str | None, method: str
    ) -> tuple[float, dict[str, Any] | None]:
        """(added latency in ms, the response-changing fault or None); consumes them."""
        latency = 0.0
        action: dict[str, Any] | None = None
        with self._lock:
            for fault in list(self._faults):
                if fault["kind"] == "provisioning_failure" or not self._matches(fault, provider, number, method):
                    continue
                if fault["kind"] == "latency":
                    latency += fault["latency_ms"]
                    self._consume(fault)
                elif action is None:
                    action = dict(fault)
                    self._consume(fault)
        return latency, action

    def _take_provisioning_fault(self, number: str, target: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in list(self._faults):
                if (
                    fault["kind"] == "provisioning_failure"
                    and self._matches(fault, SINCH, number, None)
                    and fault["target"] in (None, target)
                ):
                    self._consume(fault)
                    return dict(fault)
        return None

    # -- provisioning clock and callbacks -------------------------------------------------------

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.02):
            with self._lock:
                self._advance()

    def _job_status(self, job: dict[str, Any], now: float) -> str:
        if job.get("final"):
            return str(job["final"])
        elapsed = now - job["started"]
        return "WAITING" if elapsed < self.provisioning_seconds / 2 else "IN_PROGRESS"

    def _advance(self) -> None:
        """Finish scheduled provisioning jobs whose time is up (call with the lock held)."""
        now = time.time()
        for entry in self._sinch.values():
            for kind in ("sms", "voice"):
                job = entry[f"{kind}_job"]
                if job is None or job.get("final") or now - job["started"] < self.provisioning_seconds:
                    continue
                if job.get("fail_codes"):
                    self._fail_job(entry, kind, job, now)
                    continue
                if kind == "sms":
                    entry["sms"] = {"servicePlanId": job["servicePlanId"], "campaignId": job["campaignId"]}
                else:
                    entry["voice"] = {"type": job["type"], "target": job["target"]}
                entry[f"{kind}_job"] = None
                for event_type in job["events"]:
                    self._queue_callback(entry, event_type, "SUCCEEDED", None)

    def _fail_job(self, entry: dict[str, Any], kind: str, job: dict[str, Any], now: float) -> None:
        job["final"] = "FAILED"
        job["errorCodes"] = list(job["fail_codes"])
        job["updated"] = now
        self._queue_callback(entry, job["events"][-1], "FAILED", job["errorCodes"][0])

    def _queue_callback(self, entry: dict[str, Any], event_type: str, status: str, failure_code: str | None) -> None:
        url = entry.get("callbackUrl")
        if not url:
            return
        event = {
            "eventId": str(uuid.uuid4()),
            "timestamp": _now_iso(),
            "projectId": entry["projectId"],
            "resourceType": "ACTIVE_NUMBER",
            "resourceId": entry["phoneNumber"],
            "eventType": event_type,
            "status": status,
            "failureCode": failure_code or "",
        }
        self._callback_queue.put((url, event))

    def _callback_loop(self) -> None:
        with httpx.Client(timeout=self.callback_timeout) as client:
            while True:
                item = self._callback_queue.get()
                if item is None:
                    return
                url, event = item
                body = json.dumps(event).encode()
                signature = sign_callback(body, self.callback_secret)
                record: dict[str, Any] = {
                    "url": url,
                    "event": event,
                    "body": body.decode(),
                    "signature": signature,
                    "status": None,
                    "error": None,
                    "delivered_at": _now_iso(),
                }
                try:
                    response = client.post(
                        url, content=body, headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature}
                    )
                    record["status"] = response.status_code
                except httpx.HTTPError as exc:
                    record["error"] = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self._callbacks.append(record)
                    del self._callbacks[:-MAX_LOG]

    # -- Sinch ----------------------------------------------------------------------------------

    def _sinch_view(self, entry: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        sms: dict[str, Any] = dict(entry["sms"])
        job = entry["sms_job"]
        if job is not None:
            status = self._job_status(job, now)
            sched: dict[str, Any] = {
                "servicePlanId": job["servicePlanId"],
                "campaignId": job["campaignId"],
                "status": status,
                "lastUpdatedTime": _now_iso(self._job_updated(job, now)),
                "errorCodes": list(job.get("errorCodes") or []),
            }
            sms["scheduledProvisioning"] = sched
        voice_key = SINCH_VOICE_TARGET_KEYS[entry["voice"]["type"]]
        voice: dict[str, Any] = {"type": entry["voice"]["type"], voice_key: entry["voice"]["target"]}
        vjob = entry["voice_job"]
        if vjob is not None:
            vsched: dict[str, Any] = {
                "type": vjob["type"],
                SINCH_VOICE_TARGET_KEYS[vjob["type"]]: vjob["target"],
                "status": self._job_status(vjob, now),
                "lastUpdatedTime": _now_iso(self._job_updated(vjob, now)),
            }
            if vjob.get("errorCodes"):
                vsched["errorCodes"] = list(vjob["errorCodes"])
            voice["scheduledVoiceProvisioning"] = vsched
        view = {
            k: entry[k]
            for k in (
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
        }
        view["smsConfiguration"] = sms
        view["voiceConfiguration"] = voice
        view["callbackUrl"] = entry["callbackUrl"]
        return view

    def _job_updated(self, job: dict[str, Any], now: float) -> float:
        if job.get("final"):
            return float(job["updated"])
        half = job["started"] + self.provisioning_seconds / 2
        return half if now >= half else float(job["started"])

    @staticmethod
    def _sinch_error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": SINCH_STATUS_NAMES.get(status, "UNKNOWN"),
                "details": details or [],
            }
        }

    def _sinch_effective_sms(self, entry: dict[str, Any]) -> tuple[str, str]:
        job = entry["sms_job"]
        if job is not None and not job.get("final"):
            return job["servicePlanId"], job["campaignId"]
        return entry["sms"]["servicePlanId"], entry["sms"]["campaignId"]

    def _sinch_effective_voice(self, entry: dict[str, Any]) -> tuple[str, str]:
        job = entry["voice_job"]
        if job is not None and not job.get("final"):
            return job["type"], job["target"]
        return entry["voice"]["type"], entry["voice"]["target"]

    def _sinch_validate(self, entry: dict[str, Any], body: Any) -> list[tuple[str, str]]:
        if not isinstance(body, dict):
            return [("", "request body must be a JSON object")]
        problems: list[tuple[str, str]] = []
        for key in body:
            if key not in ("displayName", "smsConfiguration", "voiceConfiguration", "callbackUrl"):
                problems.append((key, "unknown field"))
        if "displayName" in body and not isinstance(body["displayName"], str):
            problems.append(("displayName", "must be a string"))
        if "callbackUrl" in body:
            url = body["callbackUrl"]
            if not isinstance(url, str):
                problems.append(("callbackUrl", "must be a string"))
            elif url and not _is_http_url(url):
                problems.append(("callbackUrl", "must be a valid http or https URL"))
        if "smsConfiguration" in body:
            problems += self._sinch_validate_sms(entry, body["smsConfiguration"])
        if "voiceConfiguration" in body:
            problems += self._sinch_validate_voice(body["voiceConfiguration"])
        return problems

    def _sinch_validate_sms(self, entry: dict[str, Any], sms: Any) -> list[tuple[str, str]]:
        if not isinstance(sms, dict):
            return [("smsConfiguration", "must be an object")]
        if not sms:
            return [("smsConfiguration", "must not be empty: omit the object when it has nothing to update")]
        problems: list[tuple[str, str]] = []
        for key in sms:
            if key not in ("servicePlanId", "campaignId"):
                problems.append((f"smsConfiguration.{key}", "unknown field"))
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
        eff_plan, eff_campaign = self._sinch_effective_sms(entry)
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

    @staticmethod
    def _sinch_validate_voice(voice: Any) -> list[tuple[str, str]]:
        if not isinstance(voice, dict):
            return [("voiceConfiguration", "must be an object")]
        if not voice:
            return [("voiceConfiguration", "must not be empty: omit the object when it has nothing to update")]
        vtype = voice.get("type")
        if vtype not in SINCH_VOICE_TARGET_KEYS:
            return [("voiceConfiguration.type", "must be one of RTC, EST, FAX")]
        problems: list[tuple[str, str]] = []
        key = SINCH_VOICE_TARGET_KEYS[vtype]
        for other in voice:
            if other not in ("type", key):
                problems.append((f"voiceConfiguration.{other}", f"not allowed with type {vtype}"))
        if key not in voice:
            problems.append((f"voiceConfiguration.{key}", f"is required for type {vtype}"))
        elif not isinstance(voice[key], str):
            problems.append((f"voiceConfiguration.{key}", "must be a string"))
        return problems

    def _sinch_apply(self, entry: dict[str, Any], body: dict[str, Any]) -> None:
        now = time.time()
        if "displayName" in body:
            entry["displayName"] = body["displayName"]
        if "callbackUrl" in body:
            entry["callbackUrl"] = body["callbackUrl"]
        if "smsConfiguration" in body:
            self._sinch_apply_sms(entry, body["smsConfiguration"], now)
        if "voiceConfiguration" in body:
            self._sinch_apply_voice(entry, body["voiceConfiguration"], now)

    def _sinch_apply_sms(self, entry: dict[str, Any], sms: dict[str, Any], now: float) -> None:
        plan, campaign = sms["servicePlanId"], sms.get("campaignId")
        eff_plan, eff_campaign = self._sinch_effective_sms(entry)
        direct = entry["sms"]
        if not plan:  # unlink from the service (and its campaign): immediate
            had_plan, had_campaign = direct["servicePlanId"] or eff_plan, direct["campaignId"] or eff_campaign
            entry["sms"] = {"servicePlanId": "", "campaignId": ""}
            entry["sms_job"] = None
            if had_campaign:
                self._queue_callback(entry, "DEPROVISIONING_FROM_CAMPAIGN", "SUCCEEDED", None)
            if had_plan:
                self._queue_callback(entry, "DEPROVISIONING_FROM_SMS_PLATFORM", "SUCCEEDED", None)
            return
        target_campaign = campaign if campaign is not None else (eff_campaign if plan == eff_plan else "")
        if (plan, target_campaign) == (eff_plan, eff_campaign):
            return  # already there (or on its way): nothing to do
        if plan == direct["servicePlanId"] and not target_campaign:  # unlink the campaign: immediate
            had_campaign = direct["campaignId"] or eff_campaign
            entry["sms"] = {"servicePlanId": plan, "campaignId": ""}
            entry["sms_job"] = None
            if had_campaign:
                self._queue_callback(entry, "DEPROVISIONING_FROM_CAMPAIGN", "SUCCEEDED", None)
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

    def _sinch_apply_voice(self, entry: dict[str, Any], voice: dict[str, Any], now: float) -> None:
        vtype = voice["type"]
        target = voice[SINCH_VOICE_TARGET_KEYS[vtype]]
        if not target:
            had = entry["voice"]["target"] or self._sinch_effective_voice(entry)[1]
            entry["voice"] = {"type": vtype, "target": ""}
            entry["voice_job"] = None
            if had:
                self._queue_callback(entry, "DEPROVISIONING_FROM_VOICE_PLATFORM", "SUCCEEDED", None)
            return
        if (vtype, target) == self._sinch_effective_voice(entry):
            return
        # While provisioning, the target under voiceConfiguration is empty (as documented).
        entry["voice"] = {"type": vtype, "target": ""}
        job = {"type": vtype, "target": target, "started": now, "events": ["PROVISIONING_TO_VOICE_PLATFORM"]}
        entry["voice_job"] = job
        self._start_job(entry, "voice", job, now)

    def _start_job(self, entry: dict[str, Any], kind: str, job: dict[str, Any], now: float) -> None:
        fault = self._take_provisioning_fault(entry["phoneNumber"], kind)
        if fault is None:
            return
        job["fail_codes"] = fault["error_codes"]
        if fault["immediate"]:
            self._fail_job(entry, kind, job, now)

    # -- Plivo ----------------------------------------------------------------------------------

    def _plivo_view(self, entry: dict[str, Any]) -> dict[str, Any]:
        app = entry["app_id"]
        return {
            "api_id": str(uuid.uuid4()),
            "added_on": entry["added_on"],
            "alias": entry["alias"],
            "application": f"/v1/Account/{self.plivo_auth_id}/Application/{app}/" if app else None,
            "carrier": "Plivo",
            "monthly_rental_rate": entry["monthly_rental_rate"],
            "number": entry["number"],
            "number_type": entry["number_type"],
            "region": entry["region"],
            "renewal_date": entry["renewal_date"],
            "resource_uri": f"/v1/Account/{self.plivo_auth_id}/Number/{entry['number']}/",
            "sms_enabled": True,
            "voice_enabled": True,
            "sub_account": entry["sub_account"],
            "compliance_application_id": entry["compliance_application_id"],
            "compliance_status": entry["compliance_status"],
        }

    @staticmethod
    def _plivo_error(message: str) -> dict[str, Any]:
        return {"api_id": str(uuid.uuid4()), "error": message}

    def _plivo_update(self, entry: dict[str, Any], body: Any, caller: str) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, self._plivo_error("request body must be a JSON object")
        for key, value in body.items():
            if key not in ("app_id", "subaccount", "alias", "compliance_application_id"):
                return 400, self._plivo_error(f"unexpected parameter: {key}")
            if not isinstance(value, str):
                return 400, self._plivo_error(f"{key} must be a string")
        if "subaccount" in body:
            if not caller.startswith("MA"):
                return 401, self._plivo_error("only the main account can move a number to a subaccount")
            sub = body["subaccount"]
            if sub != self.plivo_auth_id and not PLIVO_SUBACCOUNT_RE.match(sub):
                return 400, self._plivo_error("subaccount must be a valid subaccount auth_id")
        new_compliance = body.get("compliance_application_id")
        if (
            "compliance_application_id" in body
            and new_compliance != entry["compliance_application_id"]
            and entry["compliance_status"] not in PLIVO_COMPLIANCE_EDITABLE
        ):
            return 400, self._plivo_error(
                "compliance_application_id can only be updated when the compliance status of the "
                f"number is pending or rejected (it is {entry['compliance_status']})"
            )
        if "alias" in body:
            entry["alias"] = body["alias"] or None
        if "app_id" in body:
            entry["app_id"] = body["app_id"] or None
        if "subaccount" in body:
            entry["sub_account"] = None if body["subaccount"] == self.plivo_auth_id else body["subaccount"]
        if "compliance_application_id" in body:
            entry["compliance_application_id"] = new_compliance or None
        return 202, {"message": "changed", "api_id": str(uuid.uuid4())}

    # -- HTTP handling (called from the handler threads) ------------------------------------------

    def _record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._request_seq += 1
            entry["id"] = self._request_seq
            self._requests.append(entry)
            del self._requests[:-MAX_LOG]
        return entry

    def _check_basic(self, header: str | None, accounts: Mapping[str, str]) -> str | None:
        """The authenticated username, or None."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        expected = accounts.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return user

    def handle_sinch(
        self, method: str, project: str, number: str, auth: str | None, body: Any
    ) -> tuple[int, dict[str, Any]]:
        if self._check_basic(auth, {self.sinch_key_id: self.sinch_key_secret}) is None:
            return 401, self._sinch_error(401, "Invalid credentials: check the key id and key secret")
        if project != self.sinch_project_id:
            return 403, self._sinch_error(403, f"The key does not have access to project {project}")
        with self._lock:
            self._advance()
            entry = self._sinch.get(number)
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
                return 404, self._sinch_error(404, "Number not found", details)
            if method == "GET":
                return 200, self._sinch_view(entry)
            if method != "PATCH":
                return 405, self._sinch_error(405, f"Method {method} not allowed")
            problems = self._sinch_validate(entry, body)
            if problems:
                details = [
                    {
                        "type": "BadRequest",
                        "fieldViolations": [{"field": f, "description": d} for f, d in problems],
                    }
                ]
                return 400, self._sinch_error(400, "Request contains an invalid argument.", details)
            self._sinch_apply(entry, body)
            return 200, self._sinch_view(entry)

    def handle_plivo(
        self, method: str, auth_id: str, number: str, auth: str | None, body: Any
    ) -> tuple[int, dict[str, Any]]:
        accounts = {self.plivo_auth_id: self.plivo_auth_token, **self.plivo_subaccounts}
        caller = self._check_basic(auth, accounts)
        if caller is None or caller != auth_id:
            return 401, self._plivo_error("Authentication failed: invalid auth_id or auth_token")
        with self._lock:
            entry = self._plivo.get(number)
            if entry is None:
                return 404, self._plivo_error("not found")
            if method == "GET":
                return 200, self._plivo_view(entry)
            if method != "POST":
                return 405, self._plivo_error(f"method {method} not allowed")
            return self._plivo_update(entry, body, caller)

    def fault_response(self, provider: str, fault: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        status = int(fault["status"])
        headers: dict[str, str] = {}
        if fault["kind"] == "rate_limit":
            status = 429
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(fault["retry_after"])
        body = fault.get("body")
        if body is None:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            if provider == SINCH:
                body = self._sinch_error(status, f"Simulated fault: {phrase}")
            else:
                message = "Too many requests, rate limited" if status == 429 else f"Simulated fault: {phrase}"
                body = self._plivo_error(message)
        return status, body, headers

    def handle_control(self, method: str, path: str, query: str, body: Any) -> tuple[int, Any]:
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        parts = [p for p in path.split("/") if p][1:]  # drop "_sim"
        head = parts[0] if parts else ""
        if head == "reset" and method == "POST":
            self.reset()
            return 200, {"ok": True}
        if head == "numbers":
            if method == "POST":
                items = body.get("numbers") if isinstance(body, dict) and "numbers" in body else [body]
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise SimulatorError("body must be a number object or {'numbers': [...]}")
                seeded = []
                for item in items:
                    state = {k: v for k, v in item.items() if k not in ("provider", "number")}
                    seeded.append(self.seed(str(item.get("provider")), str(item.get("number") or ""), **state))
                return 201, {"numbers": seeded}
            if method == "GET" and len(parts) == 1:
                return 200, {"numbers": self.all_numbers()}
            if method == "GET" and len(parts) == 3:
                state = self.number_state(parts[1], parts[2])
                if state is None:
                    return 404, {"error": "unknown number"}
                return 200, {"provider": parts[1], "number": unquote(parts[2]), "state": state}
        if head == "requests":
            if method == "GET":
                return 200, {"requests": self.recorded_requests(params.get("provider"), params.get("number"))}
            if method == "DELETE":
                self.clear_requests()
                return 200, {"ok": True}
        if head == "faults":
            if method == "POST":
                items = body.get("faults") if isinstance(body, dict) and "faults" in body else [body]
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise SimulatorError("body must be a fault object or {'faults': [...]}")
                return 201, {"faults": [self.add_fault(**item) for item in items]}
            if method == "GET":
                return 200, {"faults": self.faults()}
            if method == "DELETE":
                self.clear_faults()
                return 200, {"ok": True}
        if head == "callbacks" and method == "GET":
            return 200, {"callbacks": self.callbacks()}
        if head == "config" and method in ("GET", "POST"):
            return 200, self.configure(**(body if isinstance(body, dict) else {}))
        if head == "sink":
            return 200, {"received": self.sink()}
        return 404, {"error": f"no control endpoint {method} {path}"}

    def record_sink(self, headers: Mapping[str, str], raw: bytes) -> None:
        with self._lock:
            self._sink.append({"headers": dict(headers), "body": raw.decode("utf-8", "replace"), "at": _now_iso()})


class _Handler(BaseHTTPRequestHandler):
    # Small JSON answers on keep-alive connections: without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every call on loopback.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        body_ok = True
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body, body_ok = raw.decode("utf-8", "replace"), False

        if path == "/_sim/sink" and method == "POST":
            sim.record_sink(self.headers, raw)
            self._send(200, {"ok": True})
            return
        if path.startswith("/_sim/") or path == "/_sim":
            try:
                status, payload = sim.handle_control(method, path, query, body if body_ok else None)
            except (SimulatorError, TypeError, ValueError) as exc:
                status, payload = 400, {"error": str(exc)}
            self._send(status, payload)
            return

        provider, route = self._route(path)
        number = None
        if route is not None:
            number = _e164(route["number"]) if provider == SINCH else _digits(unquote(route["number"]))
        record = sim._record(
            {
                "provider": provider,
                "method": method,
                "path": path,
                "query": query,
                "number": number,
                "body": body,
                "headers": {k: v for k, v in self.headers.items() if k.lower() != "authorization"},
                "status": None,
                "fault": None,
                "timestamp": _now_iso(),
            }
        )
        started = time.perf_counter()
        status, payload, headers = self._answer(sim, provider, route, method, number, body, body_ok, record)
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        if status is None:  # hang: hold, then drop the connection without answering
            self.close_connection = True
            return
        record["status"] = status
        self._send(status, payload, headers)

    def _route(self, path: str) -> tuple[str | None, dict[str, str] | None]:
        if path.startswith("/v1/projects/"):
            match = SINCH_PATH_RE.match(path)
            return SINCH, (match.groupdict() if match else None)
        if path.startswith("/v1/Account/"):
            match = PLIVO_PATH_RE.match(path)
            return PLIVO, (match.groupdict() if match else None)
        return None, None

    def _answer(
        self,
        sim: ProviderSimulator,
        provider: str | None,
        route: dict[str, str] | None,
        method: str,
        number: str | None,
        body: Any,
        body_ok: bool,
        record: dict[str, Any],
    ) -> tuple[int | None, Any, dict[str, str]]:
        if provider is None:
            return 404, {"error": f"no such endpoint: {method} {record['path']}"}, {}
        latency, fault = sim._take_request_faults(provider, number, method)
        if latency:
            record["fault"] = "latency"
            sim._stop.wait(latency / 1000)
        if fault is not None:
            record["fault"] = fault["kind"]
            if fault["kind"] == "hang":
                sim._stop.wait(fault["hang_seconds"])
                return None, None, {}
            return sim.fault_response(provider, fault)
        auth = self.headers.get("Authorization")
        if provider == SINCH:
            if route is None:
                return 404, sim._sinch_error(404, f"No such resource: {record['path']}"), {}
            if not body_ok:
                return 400, sim._sinch_error(400, "Invalid JSON payload received."), {}
            status, payload = sim.handle_sinch(method, unquote(route["project"]), number or "", auth, body)
            return status, payload, {}
        if route is None:
            return 404, sim._plivo_error("not found"), {}
        if not body_ok:
            return 400, sim._plivo_error("invalid JSON body"), {}
        status, payload = sim.handle_plivo(method, unquote(route["auth_id"]), number or "", auth, body)
        return status, payload, {}


def make_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sinch_project_id: str = DEFAULT_SINCH_PROJECT_ID,
    sinch_key_id: str = DEFAULT_SINCH_KEY_ID,
    sinch_key_secret: str = DEFAULT_SINCH_KEY_SECRET,
    plivo_auth_id: str = DEFAULT_PLIVO_AUTH_ID,
    plivo_auth_token: str = DEFAULT_PLIVO_AUTH_TOKEN,
    plivo_subaccounts: Mapping[str, str] | None = None,
    provisioning_seconds: float = 1.0,
    callback_secret: str = DEFAULT_CALLBACK_SECRET,
    callback_timeout: float = 5.0,
) -> ProviderSimulator:
    """Build (not start) a simulator bound to ``host:port`` (port 0 picks a free port).

    ``plivo_subaccounts`` maps subaccount auth ids (SA...) to tokens that may also call the
    Plivo API; defaults to one ``SASIMULATOR000000001`` / ``sim-plivo-sub-token``.
    """
    return ProviderSimulator(
        host,
        port,
        sinch_project_id=sinch_project_id,
        sinch_key_id=sinch_key_id,
        sinch_key_secret=sinch_key_secret,
        plivo_auth_id=plivo_auth_id,
        plivo_auth_token=plivo_auth_token,
        plivo_subaccounts=plivo_subaccounts,
        provisioning_seconds=provisioning_seconds,
        callback_secret=callback_secret,
        callback_timeout=callback_timeout,
    )


__all__ = ["ProviderSimulator", "SimulatorError", "make_simulator"]
