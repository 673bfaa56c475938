"""The adapters' settings values check themselves (what a link may ask of a provider)."""

from __future__ import annotations

import pytest

from provider_sync.adapters.base import PlivoSettings, SinchSettings


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
