"""Plivo adapter rules, checked on what the simulator recorded."""

from __future__ import annotations

import httpx
import pytest

from provider_sync.adapters.base import PermanentProviderError, PlivoSettings
from provider_sync.adapters.plivo import PlivoAdapter
from provider_sync.tests.adapters.conftest import (
    PLIVO_MAIN_ID,
    PLIVO_MAIN_TOKEN,
    PLIVO_SUB_ID,
    PLIVO_SUB_TOKEN,
    plivo_config,
)
from simulator.server import ProviderSimulator

NUMBER = "+12025551111"
DIGITS = "12025551111"
OTHER_SUB = "SAOTHERACCOUNT000002"


def posts(sim: ProviderSimulator) -> list[dict]:
    return [r for r in sim.recorded_requests("plivo", NUMBER) if r["method"] == "POST"]


def test_update_posts_changed_fields_and_accepts_202(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", NUMBER, alias="old", app_id="111")
    result = plivo.push(NUMBER, PlivoSettings(alias="Updated Alias", app_id="222"))

    [post] = posts(sim)
    assert post["path"] == f"/v1/Account/{PLIVO_MAIN_ID}/Number/{DIGITS}/"
    assert post["body"] == {"alias": "Updated Alias", "app_id": "222"}
    assert post["status"] == 202
    post_attempt = next(a for a in result.attempts if a.method == "POST")
    assert post_attempt.status_code == 202
    assert '"message": "changed"' in post_attempt.response_body
    assert result.changed and not result.provisioning
    assert result.remote.settings.alias == "Updated Alias"
    assert result.remote.settings.app_id == "222"


def test_push_is_idempotent(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", NUMBER)
    desired = PlivoSettings(alias="A", app_id="9")
    assert plivo.push(NUMBER, desired).changed
    again = plivo.push(NUMBER, desired)
    assert not again.changed
    assert [a.method for a in again.attempts] == ["GET"]
    assert len(posts(sim)) == 1


def test_inactivation_detaches_application_and_clears_our_alias(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", NUMBER, alias="ours", app_id="111")
    result = plivo.push(NUMBER, PlivoSettings(), previous=PlivoSettings(alias="ours", app_id="111"))
    assert posts(sim)[0]["body"] == {"alias": "", "app_id": ""}
    assert result.remote.settings.app_id is None and result.remote.settings.alias is None


@pytest.mark.parametrize("status", ["approved", "in-review", "expired"])
def test_compliance_change_refused_locally_without_post(
    sim: ProviderSimulator, plivo: PlivoAdapter, status: str
) -> None:
    sim.seed("plivo", NUMBER, compliance_application_id="CA_OLD", compliance_status=status)
    with pytest.raises(PermanentProviderError) as info:
        plivo.push(NUMBER, PlivoSettings(compliance_application_id="CA_NEW", alias="x"))
    assert info.value.codes == ("COMPLIANCE_LOCKED",)
    assert status in info.value.message
    assert posts(sim) == []
    assert [a.method for a in info.value.attempts] == ["GET"]


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_compliance_change_allowed_when_pending_or_rejected(
    sim: ProviderSimulator, plivo: PlivoAdapter, status: str
) -> None:
    sim.seed("plivo", NUMBER, compliance_application_id="CA_OLD", compliance_status=status)
    result = plivo.push(NUMBER, PlivoSettings(compliance_application_id="CA_NEW"))
    assert posts(sim)[0]["body"] == {"compliance_application_id": "CA_NEW"}
    assert result.remote.settings.compliance_application_id == "CA_NEW"
    assert result.remote.compliance_status == status


def test_simulator_itself_refuses_compliance_change_when_approved(sim: ProviderSimulator) -> None:
    sim.seed("plivo", NUMBER, compliance_application_id="CA_OLD", compliance_status="approved")
    response = httpx.post(
        f"{sim.base_url}/v1/Account/{PLIVO_MAIN_ID}/Number/{DIGITS}/",
        json={"compliance_application_id": "CA_NEW"},
        auth=(PLIVO_MAIN_ID, PLIVO_MAIN_TOKEN),
    )
    assert response.status_code == 400
    assert set(response.json()) == {"api_id", "error"}


def test_subaccount_move_refused_locally_for_subaccount_credentials(sim: ProviderSimulator) -> None:
    sim.seed("plivo", NUMBER, sub_account=PLIVO_SUB_ID)
    adapter = PlivoAdapter.from_config(plivo_config(sim, sub=True))
    with pytest.raises(PermanentProviderError) as info:
        adapter.push(NUMBER, PlivoSettings(subaccount=OTHER_SUB))
    adapter.close()
    assert info.value.codes == ("SUBACCOUNT_MOVE_NEEDS_MAIN_ACCOUNT",)
    assert posts(sim) == []
    # The GET went out with the subaccount's own auth id in the path.
    assert sim.recorded_requests("plivo")[0]["path"] == f"/v1/Account/{PLIVO_SUB_ID}/Number/{DIGITS}/"


def test_subaccount_credentials_may_still_update_other_fields(sim: ProviderSimulator) -> None:
    sim.seed("plivo", NUMBER, sub_account=PLIVO_SUB_ID)
    adapter = PlivoAdapter.from_config(plivo_config(sim, sub=True))
    result = adapter.push(NUMBER, PlivoSettings(subaccount=PLIVO_SUB_ID, alias="sub alias"))
    adapter.close()
    assert posts(sim)[0]["body"] == {"alias": "sub alias"}
    assert result.remote.settings.subaccount == PLIVO_SUB_ID


def test_subaccount_move_allowed_for_main_account(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", NUMBER)
    result = plivo.push(NUMBER, PlivoSettings(subaccount=PLIVO_SUB_ID))
    assert posts(sim)[0]["body"] == {"subaccount": PLIVO_SUB_ID}
    assert posts(sim)[0]["status"] == 202
    assert result.remote.settings.subaccount == PLIVO_SUB_ID


def test_simulator_refuses_subaccount_move_by_subaccount(sim: ProviderSimulator) -> None:
    sim.seed("plivo", NUMBER)
    response = httpx.post(
        f"{sim.base_url}/v1/Account/{PLIVO_SUB_ID}/Number/{DIGITS}/",
        json={"subaccount": OTHER_SUB},
        auth=(PLIVO_SUB_ID, PLIVO_SUB_TOKEN),
    )
    assert response.status_code == 401
    assert "main account" in response.json()["error"]


def test_bad_subaccount_refused_by_validation(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    sim.seed("plivo", NUMBER)
    with pytest.raises(PermanentProviderError) as info:
        plivo.push(NUMBER, PlivoSettings(subaccount="SA123"))
    assert info.value.codes == ("INVALID_SETTINGS",)
    assert sim.recorded_requests("plivo") == []


def test_unknown_number_404_keeps_plivo_error_text(sim: ProviderSimulator, plivo: PlivoAdapter) -> None:
    with pytest.raises(PermanentProviderError) as info:
        plivo.push(NUMBER, PlivoSettings(alias="x"))
    assert info.value.status == 404
    assert info.value.message == "not found"


def test_unknown_field_400_message_is_kept(sim: ProviderSimulator) -> None:
    sim.seed("plivo", NUMBER)
    response = httpx.post(
        f"{sim.base_url}/v1/Account/{PLIVO_MAIN_ID}/Number/{DIGITS}/",
        json={"aliases": "x"},
        auth=(PLIVO_MAIN_ID, PLIVO_MAIN_TOKEN),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unexpected parameter: aliases"


def test_wrong_token_is_401(sim: ProviderSimulator) -> None:
    sim.seed("plivo", NUMBER)
    adapter = PlivoAdapter.from_config(plivo_config(sim, auth_token="wrong"))
    with pytest.raises(PermanentProviderError) as info:
        adapter.fetch(NUMBER)
    adapter.close()
    assert info.value.status == 401
    assert "Authentication failed" in info.value.message
