"""The simulator's /_sim/ control API and lifecycle, and settings validation."""

from __future__ import annotations

import httpx
import pytest

from provider_sync.adapters.base import SinchSettings
from provider_sync.adapters.sinch import SinchAdapter
from simulator.server import ProviderSimulator, make_simulator
from simulator.tests.conftest import PLIVO_MAIN_ID, PLIVO_MAIN_TOKEN, SINCH_PROJECT, wait_for

US = "+12025550134"


def test_control_api_seed_state_requests_faults_reset(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    with httpx.Client(base_url=sim.base_url) as client:
        seeded = client.post(
            "/_sim/numbers",
            json={
                "numbers": [
                    {"provider": "sinch", "number": US, "projectId": SINCH_PROJECT, "displayName": "seeded"},
                    {"provider": "plivo", "number": "+12025551111", "compliance_status": "rejected"},
                ]
            },
        )
        assert seeded.status_code == 201
        assert [n["number"] for n in seeded.json()["numbers"]] == [US, "12025551111"]

        state = client.get("/_sim/numbers/sinch/%2B12025550134").json()
        assert state["state"]["displayName"] == "seeded"
        plivo_state = client.get("/_sim/numbers/plivo/12025551111").json()["state"]
        assert plivo_state["compliance_status"] == "rejected"
        assert client.get("/_sim/numbers/plivo/19999999999").status_code == 404

        fault = client.post("/_sim/faults", json={"kind": "status", "provider": "sinch", "status": 503, "count": 1})
        assert fault.status_code == 201 and fault.json()["faults"][0]["id"] >= 1
        assert client.post("/_sim/faults", json={"kind": "nope"}).status_code == 400

        with pytest.raises(Exception):  # noqa: B017 - any provider error will do here
            sinch.fetch(US)
        assert sinch.fetch(US).settings.display_name == "seeded"

        requests = client.get("/_sim/requests", params={"provider": "sinch", "number": US}).json()["requests"]
        assert [r["status"] for r in requests] == [503, 200]
        assert requests[0]["fault"] == "status"
        assert all("authorization" not in {k.lower() for k in r["headers"]} for r in requests)
        assert client.get("/_sim/requests", params={"provider": "plivo"}).json()["requests"] == []

        client.post("/_sim/faults", json={"faults": [{"kind": "latency", "latency_ms": 10, "count": None}]})
        assert len(client.get("/_sim/faults").json()["faults"]) == 1
        assert client.delete("/_sim/faults").json() == {"ok": True}
        assert client.get("/_sim/faults").json()["faults"] == []

        assert client.post("/_sim/config", json={"provisioning_seconds": 0.2}).json() == {"provisioning_seconds": 0.2}
        assert client.post("/_sim/reset").json() == {"ok": True}
        assert client.get("/_sim/numbers").json()["numbers"] == []
        assert client.get("/_sim/requests").json()["requests"] == []
        assert client.get("/_sim/callbacks").json()["callbacks"] == []
        assert client.get("/_sim/unknown").status_code == 404


def test_sink_receives_callbacks(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    sim.seed("sinch", US, projectId=SINCH_PROJECT)
    sinch.push(US, SinchSettings(voice_type="RTC", voice_target_id="APP", callback_url=f"{sim.base_url}/_sim/sink"))
    received = wait_for(lambda: httpx.get(f"{sim.base_url}/_sim/sink").json()["received"])
    assert '"PROVISIONING_TO_VOICE_PLATFORM"' in received[0]["body"]
    assert wait_for(sim.callbacks)[0]["status"] == 200


def test_unknown_paths_and_methods(sim: ProviderSimulator) -> None:
    sim.seed("plivo", "+12025551111")
    assert httpx.get(f"{sim.base_url}/nothing").status_code == 404
    # Plivo URLs end with a slash.
    response = httpx.get(f"{sim.base_url}/v1/Account/{PLIVO_MAIN_ID}/Number/12025551111")
    assert response.status_code == 404 and "error" in response.json()
    response = httpx.delete(
        f"{sim.base_url}/v1/Account/{PLIVO_MAIN_ID}/Number/12025551111/", auth=(PLIVO_MAIN_ID, PLIVO_MAIN_TOKEN)
    )
    assert response.status_code == 405


def test_refuses_non_loopback_host() -> None:
    with pytest.raises(ValueError):
        make_simulator("0.0.0.0", 0)


def test_start_stop_standalone() -> None:
    sim = make_simulator(port=0, provisioning_seconds=0.1).start()
    base = sim.base_url
    sim.seed("sinch", US)
    assert httpx.get(f"{base}/_sim/numbers").json()["numbers"][0]["number"] == US
    sim.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/_sim/numbers", timeout=0.5)


def test_the_request_log_times_each_request_to_the_microsecond(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    """The bench times commit -> provider request on paths of 1-3 ms, and the chaos test orders
    one number's requests: a log cut to the millisecond took up to 1 ms off every figure (half the
    bare task's latency)."""
    from datetime import datetime

    sim.seed("sinch", US)
    before = datetime.now().astimezone()
    sinch.fetch(US)
    after = datetime.now().astimezone()
    with httpx.Client(base_url=sim.base_url) as client:
        (logged,) = client.get("/_sim/requests", params={"provider": "sinch", "number": US}).json()["requests"]
    stamp = logged["timestamp"]
    assert stamp.endswith("Z") and len(stamp.split(".")[1]) == len("123456Z")
    assert before <= datetime.fromisoformat(stamp) <= after
