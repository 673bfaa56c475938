"""Fault injection: errors, 429, latency, hangs and provisioning failures added through ``/_sim/faults``."""

from __future__ import annotations

import threading
from http import HTTPStatus
from typing import Any

from simulator.plivo import plivo_error
from simulator.sinch import sinch_error
from simulator.state import PLIVO, SINCH, Records, SimulatorError, digits, plain_digits

FAULT_KINDS = ("status", "rate_limit", "latency", "hang", "provisioning_failure")


class Faults(Records):
    """The active faults, in the order added; each is consumed ``count`` times (None: until deleted)."""

    def __init__(self, lock: threading.RLock) -> None:
        super().__init__(lock, numbered=True)

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """Add a fault (keys as in README.md, "Faults"); returns a copy with its id."""
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
            "number": plain_digits(spec["number"]) if spec.get("number") else None,
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
            return dict(self.add(fault))

    def take_for_request(self, provider: str, number: str | None, method: str) -> tuple[float, dict[str, Any] | None]:
        """(added latency in ms, the response-changing fault or None); consumes them."""
        latency = 0.0
        action: dict[str, Any] | None = None
        with self._lock:
            for fault in list(self._items):
                if fault["kind"] == "provisioning_failure" or not _matches(fault, provider, number, method):
                    continue
                if fault["kind"] == "latency":
                    latency += fault["latency_ms"]
                    self._consume(fault)
                elif action is None:
                    action = dict(fault)
                    self._consume(fault)
        return latency, action

    def take_for_provisioning(self, number: str, target: str) -> dict[str, Any] | None:
        """The provisioning failure for this Sinch number and target ("sms"/"voice"), consumed; or None."""
        with self._lock:
            for fault in list(self._items):
                if (
                    fault["kind"] == "provisioning_failure"
                    and _matches(fault, SINCH, number, None)
                    and fault["target"] in (None, target)
                ):
                    self._consume(fault)
                    return dict(fault)
        return None

    def _consume(self, fault: dict[str, Any]) -> None:
        if fault["count"] is not None:
            fault["count"] -= 1
            if fault["count"] <= 0:
                self._items.remove(fault)


def _matches(fault: dict[str, Any], provider: str, number: str | None, method: str | None) -> bool:
    return (
        (fault["provider"] in (None, provider))
        and (fault["number"] is None or fault["number"] == digits(number or ""))
        and (fault["method"] is None or method is None or fault["method"] == method)
    )


def fault_response(provider: str, fault: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """The answer a "status" or "rate_limit" fault gives: its body, or the provider's error shape."""
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
            body = sinch_error(status, f"Simulated fault: {phrase}")
        else:
            message = "Too many requests, rate limited" if status == 429 else f"Simulated fault: {phrase}"
            body = plivo_error(message)
    return status, body, headers
