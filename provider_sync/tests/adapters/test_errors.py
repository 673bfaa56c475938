"""Error typing (retryable vs permanent), attempt recording and secret masking."""

from __future__ import annotations

import base64
import json
import pickle
import socket
import time
from dataclasses import asdict

import pytest

from provider_sync.adapters import get_adapter
from provider_sync.adapters._http import parse_retry_after
from provider_sync.adapters.base import (
    PermanentProviderError,
    PlivoSettings,
    ProviderError,
    RetryableProviderError,
    SinchSettings,
)
from provider_sync.adapters.plivo import PlivoAdapter
from provider_sync.adapters.sinch import SinchAdapter
from provider_sync.tests.adapters.conftest import (
    PLIVO_MAIN_ID,
    PLIVO_MAIN_TOKEN,
    SINCH_KEY_ID,
    SINCH_KEY_SECRET,
    plivo_config,
    sinch_config,
)
from simulator.server import ProviderSimulator

US = "+12025550134"
PLIVO_NUMBER = "+12025551111"


def test_500_is_retryable(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    sim.seed("sinch", US, projectId="proj-test")
    sim.add_fault(kind="status", provider="sinch", status=500)
    with pytest.raises(RetryableProviderError) as info:
        sinch.push(US, SinchSettings(display_name="x"))
    error = info.value
    assert error.status == 500 and error.retryable
    assert error.codes == ("INTERNAL",)
    assert error.attempts[-1].status_code == 500
    # The fault was used once: the retry (done by the caller) goes through.
    assert sinch.push(US, SinchSettings(display_name="x")).changed


def test_503_plivo_is_retryable(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", PLIVO_NUMBER)
    sim.add_fault(kind="status", provider="plivo", method="POST", status=503)
    with pytest.raises(RetryableProviderError) as info:
        plivo.push(PLIVO_NUMBER, PlivoSettings(alias="x"))
    assert info.value.status == 503
    assert [a.method for a in info.value.attempts] == ["GET", "POST"]


def test_429_retry_after_is_parsed(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", PLIVO_NUMBER)
    sim.add_fault(kind="rate_limit", provider="plivo", retry_after=7)
    with pytest.raises(RetryableProviderError) as info:
        plivo.fetch(PLIVO_NUMBER)
    assert info.value.status == 429
    assert info.value.retry_after == 7.0
    assert info.value.message == "Too many requests, rate limited"


def test_429_without_retry_after(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    sim.seed("sinch", US, projectId="proj-test")
    sim.add_fault(kind="rate_limit", provider="sinch")
    with pytest.raises(RetryableProviderError) as info:
        sinch.fetch(US)
    assert info.value.retry_after is None
    assert info.value.codes == ("RESOURCE_EXHAUSTED",)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 50 <= (parse_retry_after(future) or 0) <= 61


def test_hang_times_out_and_is_retryable(sim: ProviderSimulator) -> None:
    sim.seed("sinch", US, projectId="proj-test")
    sim.add_fault(kind="hang", provider="sinch", hang_seconds=2)
    adapter = SinchAdapter.from_config(sinch_config(sim, timeout=1.0, read_timeout=0.2))
    started = time.monotonic()
    with pytest.raises(RetryableProviderError) as info:
        adapter.fetch(US)
    adapter.close()
    assert time.monotonic() - started < 1.5
    attempt = info.value.attempts[-1]
    assert attempt.status_code is None
    assert attempt.error is not None and "timeout" in attempt.error
    assert "timeout" in info.value.message


def test_latency_is_added(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    sim.seed("sinch", US, projectId="proj-test")
    sim.add_fault(kind="latency", provider="sinch", latency_ms=150, count=1)
    sinch.fetch(US)
    attempts_fast = sinch.push(US, SinchSettings()).attempts
    request = sim.recorded_requests("sinch")[0]
    assert request["fault"] == "latency" and request["duration_ms"] >= 150
    assert attempts_fast[0].duration_ms < 150


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = get_adapter(
        "plivo",
        {
            "base_url": f"http://127.0.0.1:{port}",
            "auth_id": PLIVO_MAIN_ID,
            "auth_token": PLIVO_MAIN_TOKEN,
            "timeout": 1,
        },
    )
    with pytest.raises(RetryableProviderError) as info:
        adapter.fetch(PLIVO_NUMBER)
    adapter.close()
    assert info.value.status is None
    assert info.value.attempts[0].error is not None and "ConnectError" in info.value.attempts[0].error


def test_400_fault_keeps_provider_message(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    sim.seed("sinch", US, projectId="proj-test")
    body = {
        "error": {
            "code": 400,
            "message": "Invalid display name",
            "status": "INVALID_ARGUMENT",
            "details": [{"type": "BadRequest", "fieldViolations": [{"field": "displayName", "description": "bad"}]}],
        }
    }
    sim.add_fault(kind="status", provider="sinch", method="PATCH", status=400, body=body)
    with pytest.raises(PermanentProviderError) as info:
        sinch.push(US, SinchSettings(display_name="x"))
    assert info.value.message == "Invalid display name (displayName: bad)"
    assert not info.value.retryable
    assert isinstance(info.value, ProviderError)


def test_fault_count_applies_n_times_then_disappears(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", PLIVO_NUMBER)
    sim.add_fault(kind="status", provider="plivo", number=PLIVO_NUMBER, status=502, count=2)
    for _ in range(2):
        with pytest.raises(RetryableProviderError):
            plivo.fetch(PLIVO_NUMBER)
    assert plivo.fetch(PLIVO_NUMBER).settings.alias is None
    assert sim.faults() == []
    assert [r["status"] for r in sim.recorded_requests("plivo")] == [502, 502, 200]


def test_fault_scoped_to_other_number_does_not_apply(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", PLIVO_NUMBER)
    sim.add_fault(kind="status", provider="plivo", number="+12025559999", status=500)
    assert plivo.fetch(PLIVO_NUMBER).provider == "plivo"
    assert len(sim.faults()) == 1


def test_secrets_never_recorded(sim: ProviderSimulator) -> None:
    sim.seed("sinch", US, projectId="proj-test", smsConfiguration={"servicePlanId": "A"})
    sim.seed("plivo", PLIVO_NUMBER)
    sinch = SinchAdapter.from_config(sinch_config(sim))
    plivo = PlivoAdapter.from_config(plivo_config(sim))
    attempts = []
    attempts += sinch.push(US, SinchSettings(sms_service_plan_id="B", display_name="n")).attempts
    attempts += plivo.push(PLIVO_NUMBER, PlivoSettings(alias="a", subaccount="SATESTACCOUNT0000001")).attempts
    sim.add_fault(kind="status", status=500)
    with pytest.raises(RetryableProviderError) as info:
        plivo.fetch(PLIVO_NUMBER)
    attempts += info.value.attempts
    bad = PlivoAdapter.from_config(plivo_config(sim, auth_token="wrong-token-zzz"))
    with pytest.raises(PermanentProviderError) as info2:
        bad.fetch(PLIVO_NUMBER)
    attempts += info2.value.attempts
    for adapter in (sinch, plivo, bad):
        adapter.close()

    dumped = json.dumps([a.to_dict() for a in attempts]) + repr([asdict(a) for a in attempts])
    dumped += str(info.value) + str(info2.value)
    forbidden = [
        SINCH_KEY_SECRET,
        PLIVO_MAIN_TOKEN,
        "wrong-token-zzz",
        base64.b64encode(f"{SINCH_KEY_ID}:{SINCH_KEY_SECRET}".encode()).decode(),
        base64.b64encode(f"{PLIVO_MAIN_ID}:{PLIVO_MAIN_TOKEN}".encode()).decode(),
    ]
    for secret in forbidden:
        assert secret not in dumped
    assert len(attempts) >= 7
    assert all(a.request_headers["authorization"] == "Basic ***" for a in attempts)
    # The simulator does not keep Authorization either.
    assert all("Authorization" not in r["headers"] for r in sim.recorded_requests())


def test_get_adapter_unknown_provider() -> None:
    with pytest.raises(ValueError):
        get_adapter("twilio", {})


def test_invalid_number_refused_locally(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    with pytest.raises(PermanentProviderError) as info:
        sinch.fetch("2025550134")
    assert info.value.codes == ("INVALID_NUMBER",)
    assert sim.recorded_requests() == []


def test_errors_survive_pickling(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", PLIVO_NUMBER)
    sim.add_fault(kind="rate_limit", provider="plivo", retry_after=3)
    with pytest.raises(RetryableProviderError) as info:
        plivo.fetch(PLIVO_NUMBER)
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, RetryableProviderError)
    assert (copy.status, copy.retry_after, copy.message) == (429, 3.0, info.value.message)
    assert copy.attempts[0].status_code == 429


def test_get_adapter_builds_timeouts_from_config(sim: ProviderSimulator) -> None:
    adapter = get_adapter("sinch", sinch_config(sim, timeout=4, connect_timeout=0.5))
    assert isinstance(adapter, SinchAdapter)
    timeout = adapter._client.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (0.5, 4.0, 4.0, 4.0)
    adapter.close()
