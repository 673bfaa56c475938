"""The Celery app's process hooks: what every worker process does at start."""

from __future__ import annotations

import gc

import pytest
from celery import signals

from backoffice.celery import _freeze_startup_objects


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting what it made


@pytest.mark.parametrize("signal", [signals.worker_init, signals.worker_process_init])
def test_a_worker_process_freezes_its_startup_objects(unfrozen, signal):
    # A worker (before it forks its pool) and each pool child: what they made at start leaves
    # the collector's generations, so a full collection no longer walks it (150-190 ms pauses before).
    assert _freeze_startup_objects in signal._live_receivers(None)
    assert gc.get_freeze_count() == 0
    _freeze_startup_objects()
    assert gc.get_freeze_count() > 10_000
    assert sum(gc.get_count()) < 1_000  # collected first: nothing young is frozen with it
