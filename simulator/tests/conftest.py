"""Fixtures: the simulator and the production adapters pointed at it are the adapter tests' own
(``provider_sync/tests/adapters/conftest.py``); the simulator's tests drive it the same way."""

from provider_sync.tests.adapters.conftest import (  # noqa: F401 (fixtures and constants re-exported)
    PLIVO_MAIN_ID,
    PLIVO_MAIN_TOKEN,
    SINCH_PROJECT,
    _simulator,
    sim,
    sinch,
    wait_for,
)
