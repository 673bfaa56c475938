"""Sinch adapter rules, checked on what the simulator recorded."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from provider_sync.adapters.base import PermanentProviderError, SinchSettings
from provider_sync.adapters.sinch import (
    SIGNATURE_HEADER,
    SinchAdapter,
    parse_callback_event,
    plan_sinch_requests,
    verify_callback_signature,
)
from provider_sync.tests.adapters.conftest import (
    CALLBACK_SECRET,
    SINCH_KEY_ID,
    SINCH_KEY_SECRET,
    SINCH_PROJECT,
    CallbackReceiver,
    wait_for,
)
from simulator.server import ProviderSimulator

US = "+12025550134"
BR = "+5511912345678"


def patches(sim: ProviderSimulator, number: str = US) -> list[dict]:
    return [r for r in sim.recorded_requests("sinch", number) if r["method"] == "PATCH"]


def seed(sim: ProviderSimulator, number: str = US, **state: object) -> None:
    sim.seed("sinch", number, projectId=SINCH_PROJECT, **state)


def test_link_from_unlinked_is_one_patch_and_starts_provisioning(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim)
    result = sinch.push(US, SinchSettings(sms_service_plan_id="PLAN_A", display_name="Main line"))

    assert [p["body"] for p in patches(sim)] == [
        {"displayName": "Main line", "smsConfiguration": {"servicePlanId": "PLAN_A"}}
    ]
    assert result.changed and result.provisioning
    assert result.remote.sms_provisioning is not None
    assert result.remote.sms_provisioning.status == "WAITING"
    assert result.remote.sms_provisioning.service_plan_id == "PLAN_A"
    assert [a.method for a in result.attempts] == ["GET", "PATCH"]
    assert all(a.status_code == 200 for a in result.attempts)
    assert patches(sim)[0]["path"] == f"/v1/projects/{SINCH_PROJECT}/activeNumbers/%2B12025550134"
    assert result.attempts[1].request_body == patches(sim)[0]["body"]


def test_plan_change_is_unlink_then_link_in_order(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim, smsConfiguration={"servicePlanId": "PLAN_A", "campaignId": "CAMP_1"})
    result = sinch.push(US, SinchSettings(sms_service_plan_id="PLAN_B", sms_campaign_id="CAMP_2"))

    bodies = [p["body"] for p in patches(sim)]
    assert bodies == [
        {"smsConfiguration": {"servicePlanId": "", "campaignId": ""}},
        {"smsConfiguration": {"servicePlanId": "PLAN_B", "campaignId": "CAMP_2"}},
    ]
    ids = [p["id"] for p in patches(sim)]
    assert ids == sorted(ids)
    assert all(p["status"] == 200 for p in patches(sim))
    assert result.provisioning
    assert result.remote.sms_provisioning is not None
    assert (result.remote.sms_provisioning.service_plan_id, result.remote.sms_provisioning.campaign_id) == (
        "PLAN_B",
        "CAMP_2",
    )


def test_campaign_change_is_unlink_then_link(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim, smsConfiguration={"servicePlanId": "PLAN_A", "campaignId": "CAMP_1"})
    sinch.push(US, SinchSettings(sms_service_plan_id="PLAN_A", sms_campaign_id="CAMP_2"))

    assert [p["body"] for p in patches(sim)] == [
        {"smsConfiguration": {"servicePlanId": "PLAN_A", "campaignId": ""}},
        {"smsConfiguration": {"servicePlanId": "PLAN_A", "campaignId": "CAMP_2"}},
    ]


def test_simulator_refuses_relink_without_unlink(sim: ProviderSimulator) -> None:
    seed(sim, smsConfiguration={"servicePlanId": "PLAN_A"})
    response = httpx.patch(
        f"{sim.base_url}/v1/projects/{SINCH_PROJECT}/activeNumbers/%2B12025550134",
        json={"smsConfiguration": {"servicePlanId": "PLAN_B"}},
        auth=(SINCH_KEY_ID, SINCH_KEY_SECRET),
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["fieldViolations"][0]["field"] == "smsConfiguration.servicePlanId"


@pytest.mark.parametrize("empty", ["smsConfiguration", "voiceConfiguration"])
def test_simulator_refuses_empty_configuration_object(sim: ProviderSimulator, empty: str) -> None:
    seed(sim)
    response = httpx.patch(
        f"{sim.base_url}/v1/projects/{SINCH_PROJECT}/activeNumbers/%2B12025550134",
        json={"displayName": "x", empty: {}},
        auth=(SINCH_KEY_ID, SINCH_KEY_SECRET),
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["fieldViolations"][0]["field"] == empty


def test_no_empty_configuration_objects_are_sent(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim, smsConfiguration={"servicePlanId": "PLAN_A"}, voiceConfiguration={"type": "RTC", "appId": "APP_1"})
    # Only the display name changes: no configuration object at all.
    sinch.push(
        US,
        SinchSettings(display_name="New name", sms_service_plan_id="PLAN_A", voice_type="RTC", voice_target_id="APP_1"),
    )
    # Then inactivation: unlink SMS and voice.
    sinch.push(US, SinchSettings(display_name="New name"))

    bodies = [p["body"] for p in patches(sim)]
    assert bodies == [
        {"displayName": "New name"},
        {"smsConfiguration": {"servicePlanId": ""}, "voiceConfiguration": {"type": "RTC", "appId": ""}},
    ]
    for body in bodies:
        for key in ("smsConfiguration", "voiceConfiguration"):
            assert body.get(key, {"x": 1}) != {}
    state = sim.number_state("sinch", US)
    assert state is not None
    assert state["smsConfiguration"]["servicePlanId"] == ""
    assert state["voiceConfiguration"]["appId"] == ""


def test_sms_and_voice_go_in_one_request(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim)
    result = sinch.push(US, SinchSettings(sms_service_plan_id="PLAN_A", voice_type="EST", voice_target_id="TRUNK_9"))
    assert [p["body"] for p in patches(sim)] == [
        {
            "smsConfiguration": {"servicePlanId": "PLAN_A"},
            "voiceConfiguration": {"type": "EST", "trunkId": "TRUNK_9"},
        }
    ]
    assert result.remote.voice_provisioning is not None
    assert result.remote.voice_provisioning.voice_target_id == "TRUNK_9"


def test_push_is_idempotent(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim)
    desired = SinchSettings(display_name="A", sms_service_plan_id="PLAN_A", callback_url="https://example.test/cb")
    first = sinch.push(US, desired)
    second = sinch.push(US, desired)  # still provisioning: nothing to send
    time.sleep(0.35)
    third = sinch.push(US, desired)  # provisioned: nothing to send
    assert first.changed and not second.changed and not third.changed
    assert len(patches(sim)) == 1
    assert [a.method for a in third.attempts] == ["GET"]
    assert not third.provisioning


def test_provisioning_progresses_to_done_as_seen_by_fetch(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim)
    sinch.push(US, SinchSettings(sms_service_plan_id="PLAN_A", sms_campaign_id="CAMP_1"))
    seen: list[str] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        remote = sinch.fetch(US)
        status = remote.sms_provisioning.status if remote.sms_provisioning else "DONE"
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "DONE":
            break
        time.sleep(0.02)
    assert seen == ["WAITING", "IN_PROGRESS", "DONE"]
    assert remote.settings.sms_service_plan_id == "PLAN_A"
    assert remote.settings.sms_campaign_id == "CAMP_1"
    assert "scheduledProvisioning" not in remote.raw["smsConfiguration"]
    assert not remote.provisioning


def test_voice_provisioning_completes(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim)
    result = sinch.push(US, SinchSettings(voice_type="FAX", voice_target_id="SVC_1"))
    assert result.provisioning
    remote = wait_for(lambda: (r := sinch.fetch(US)) and not r.provisioning and r)
    assert (remote.settings.voice_type, remote.settings.voice_target_id) == ("FAX", "SVC_1")


def test_callback_is_delivered_signed(sim: ProviderSimulator, sinch: SinchAdapter, receiver: CallbackReceiver) -> None:
    seed(sim)
    sinch.push(US, SinchSettings(sms_service_plan_id="PLAN_A", callback_url=receiver.url))
    received = wait_for(lambda: list(receiver.received))
    delivery = received[0]
    raw: bytes = delivery["body"]
    signature = delivery["headers"][SIGNATURE_HEADER]

    assert verify_callback_signature(raw, signature, CALLBACK_SECRET)
    assert not verify_callback_signature(raw.replace(b"SUCCEEDED", b"FAILED"), signature, CALLBACK_SECRET)
    assert not verify_callback_signature(raw, signature, "another-secret")
    assert not verify_callback_signature(raw, "", CALLBACK_SECRET)

    event = parse_callback_event(raw)
    assert event.resource_id == US
    assert event.project_id == SINCH_PROJECT
    assert event.resource_type == "ACTIVE_NUMBER"
    assert event.event_type == "PROVISIONING_TO_SMS_PLATFORM"
    assert event.succeeded
    # The handler confirms with a GET: by now provisioning is over.
    assert sinch.fetch(US).settings.sms_service_plan_id == "PLAN_A"
    log = wait_for(sim.callbacks)
    assert log[0]["status"] == 200 and log[0]["signature"] == signature


def test_provisioning_failure_reported_by_fetch_and_callback(
    sim: ProviderSimulator, sinch: SinchAdapter, receiver: CallbackReceiver
) -> None:
    seed(sim, callbackUrl=receiver.url)
    sim.add_fault(kind="provisioning_failure", number=US, error_codes=["CAMPAIGN_NOT_AVAILABLE"])
    desired = SinchSettings(sms_service_plan_id="PLAN_A", sms_campaign_id="CAMP_1")
    assert sinch.push(US, desired).provisioning

    remote = wait_for(lambda: (r := sinch.fetch(US)).provisioning_failed and r)
    assert remote.provisioning_error_codes == ("CAMPAIGN_NOT_AVAILABLE",)
    with pytest.raises(PermanentProviderError) as info:
        sinch.poll_provisioning(US, desired)
    assert info.value.codes == ("CAMPAIGN_NOT_AVAILABLE",)

    event = parse_callback_event(wait_for(lambda: list(receiver.received))[0]["body"])
    assert (event.status, event.failure_code) == ("FAILED", "CAMPAIGN_NOT_AVAILABLE")

    # A re-sync sends the link again (the fault was used up) and provisioning starts over.
    again = sinch.push(US, desired)
    assert again.changed and again.provisioning


def test_failed_provisioning_in_patch_response_is_permanent(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim)
    sim.add_fault(kind="provisioning_failure", number=US, error_codes=["INSUFFICIENT_BALANCE"], immediate=True)
    with pytest.raises(PermanentProviderError) as info:
        sinch.push(US, SinchSettings(sms_service_plan_id="PLAN_A"))
    assert info.value.codes == ("INSUFFICIENT_BALANCE",)
    assert "INSUFFICIENT_BALANCE" in info.value.message
    assert [a.method for a in info.value.attempts] == ["GET", "PATCH"]


def test_provider_400_message_is_kept(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim, BR)  # campaigns are US-only: the simulator refuses, the adapter cannot know
    with pytest.raises(PermanentProviderError) as info:
        sinch.push(BR, SinchSettings(sms_service_plan_id="PLAN_A", sms_campaign_id="CAMP_1"))
    error = info.value
    assert error.status == 400
    assert error.codes == ("INVALID_ARGUMENT",)
    assert "Request contains an invalid argument." in error.message
    assert "campaignId is only supported for US numbers" in error.message
    assert error.attempts[-1].status_code == 400


def test_unknown_number_is_permanent_404(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    with pytest.raises(PermanentProviderError) as info:
        sinch.fetch("+12025550199")
    assert info.value.status == 404
    assert info.value.codes == ("NOT_FOUND",)
    assert "+12025550199" in info.value.message


def test_bad_credentials_are_permanent_401(sim: ProviderSimulator) -> None:
    seed(sim)
    adapter = SinchAdapter(project_id=SINCH_PROJECT, key_id=SINCH_KEY_ID, key_secret="wrong", base_url=sim.base_url)
    with pytest.raises(PermanentProviderError) as info:
        adapter.fetch(US)
    adapter.close()
    assert info.value.status == 401


def test_invalid_settings_refused_locally(sim: ProviderSimulator, sinch: SinchAdapter) -> None:
    seed(sim)
    with pytest.raises(PermanentProviderError) as info:
        sinch.push(US, SinchSettings(sms_campaign_id="CAMP_1", voice_type="RTC"))
    assert info.value.codes == ("INVALID_SETTINGS",)
    assert info.value.attempts == []
    assert sim.recorded_requests("sinch") == []


def test_parse_callback_event_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_callback_event(b"not json")
    with pytest.raises(ValueError):
        parse_callback_event(json.dumps({"eventId": "x"}).encode())


def test_plan_keeps_running_provisioning_as_current() -> None:
    from provider_sync.adapters.base import RemoteNumber, ScheduledProvisioning

    remote = RemoteNumber(
        provider="sinch",
        number_e164=US,
        settings=SinchSettings(),
        sms_provisioning=ScheduledProvisioning(kind="sms", status="IN_PROGRESS", service_plan_id="PLAN_A"),
    )
    assert plan_sinch_requests(SinchSettings(sms_service_plan_id="PLAN_A"), remote) == []
    assert plan_sinch_requests(SinchSettings(sms_service_plan_id="PLAN_B"), remote) == [
        {"smsConfiguration": {"servicePlanId": ""}},
        {"smsConfiguration": {"servicePlanId": "PLAN_B"}},
    ]


def test_display_name_cleared_only_when_we_set_it() -> None:
    from provider_sync.adapters.base import RemoteNumber

    remote = RemoteNumber(provider="sinch", number_e164=US, settings=SinchSettings(display_name="Set elsewhere"))
    assert plan_sinch_requests(SinchSettings(), remote, previous=None) == []
    assert plan_sinch_requests(SinchSettings(), remote, previous=SinchSettings(display_name="Ours")) == [
        {"displayName": ""}
    ]
