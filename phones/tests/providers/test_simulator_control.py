"""The simulator's /_sim/ control API and lifecycle, and settings validation."""

from __future__ import annotations

import httpx
import pytest

from phones.providers.base import PlivoSettings, SinchSettings
from phones.providers.simulator import ProviderSimulator, make_simulator
from phones.providers.sinch import SinchAdapter
from phones.tests.providers.conftest import SINCH_PROJECT, wait_for

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
    response = httpx.get(f"{sim.base_url}/v1/Account/MATESTACCOUNT0000001/Number/12025551111")
    assert response.status_code == 404 and "error" in response.json()
    response = httpx.delete(
        f"{sim.base_url}/v1/Account/MATESTACCOUNT0000001/Number/12025551111/",
        auth=("MATESTACCOUNT0000001", "plivo-main-token-value"),
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


@pytest.mark.parametrize(
    ("desired", "fields"),
    [
        (SinchSettings(), []),
        (SinchSettings(sms_service_plan_id="P", sms_campaign_id="C", voice_type="RTC", voice_target_id="A"), []),
        (SinchSettings(voice_type="RTC"), ["voice_target_id"]),
        (SinchSettings(voice_target_id="A"), ["voice_type"]),
        (SinchSettings(voice_type="SIP", voice_target_id="A"), ["voice_type"]),
        (SinchSettings(sms_campaign_id="C"), ["sms_campaign_id"]),
        (SinchSettings(callback_url="ftp://x"), ["callback_url"]),
    ],
)
def test_sinch_settings_validate(desired: SinchSettings, fields: list[str]) -> None:
    assert [field for field, _ in desired.validate()] == fields


@pytest.mark.parametrize(
    ("subaccount", "ok"),
    [
        (None, True),
        ("SATESTACCOUNT0000001", True),
        ("MATESTACCOUNT0000001", True),
        ("SA123", False),
        ("XATESTACCOUNT0000001", False),
        ("SATESTACCOUNT00000012", False),
        ("satestaccount0000001", False),
    ],
)
def test_plivo_settings_validate(subaccount: str | None, ok: bool) -> None:
    assert (PlivoSettings(subaccount=subaccount).validate() == []) is ok
