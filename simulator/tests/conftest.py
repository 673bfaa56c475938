"""Fixtures: one simulator per session (reset before each test) and a Sinch adapter pointed at it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from provider_sync.adapters.sinch import SinchAdapter
from simulator.server import ProviderSimulator, make_simulator

SINCH_PROJECT = "proj-test"
SINCH_KEY_ID = "key-id-test"
SINCH_KEY_SECRET = "s3cr3t-sinch-key-value"
CALLBACK_SECRET = "cb-secret-value"
PLIVO_MAIN_ID = "MATESTACCOUNT0000001"
PLIVO_MAIN_TOKEN = "plivo-main-token-value"
PLIVO_SUB_ID = "SATESTACCOUNT0000001"
PLIVO_SUB_TOKEN = "plivo-sub-token-value"
PROVISIONING_SECONDS = 0.3


@pytest.fixture(scope="session")
def _simulator() -> Iterator[ProviderSimulator]:
    sim = make_simulator(
        "127.0.0.1",
        0,
        sinch_project_id=SINCH_PROJECT,
        sinch_key_id=SINCH_KEY_ID,
        sinch_key_secret=SINCH_KEY_SECRET,
        plivo_auth_id=PLIVO_MAIN_ID,
        plivo_auth_token=PLIVO_MAIN_TOKEN,
        plivo_subaccounts={PLIVO_SUB_ID: PLIVO_SUB_TOKEN},
        provisioning_seconds=PROVISIONING_SECONDS,
        callback_secret=CALLBACK_SECRET,
        callback_timeout=2.0,
    ).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(_simulator: ProviderSimulator) -> ProviderSimulator:
    _simulator.reset()
    _simulator.configure(provisioning_seconds=PROVISIONING_SECONDS)
    return _simulator


@pytest.fixture
def sinch(sim: ProviderSimulator) -> Iterator[SinchAdapter]:
    """The production Sinch adapter as a client of the simulator."""
    adapter = SinchAdapter.from_config(
        {
            "base_url": sim.base_url,
            "project_id": SINCH_PROJECT,
            "key_id": SINCH_KEY_ID,
            "key_secret": SINCH_KEY_SECRET,
            "timeout": 2.0,
        }
    )
    yield adapter
    adapter.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 3.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
