from __future__ import annotations

import pytest
from django.core.management import call_command

from backoffice.models import User

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent(make_operator, settings):
    settings.PROVIDER_SIMULATOR = True  # as dev.py run says: the demo's Sinch links call back the loopback
    call_command("seed_demo", "--quiet-logins")
    call_command("seed_demo", "--quiet-logins")
    assert User.objects.filter(email__endswith="@demo.local").count() == 10


def test_the_simulator_command_freezes_its_startup_objects_before_serving(monkeypatch):
    """A full collection walked the whole start-up heap (Django included) while every request
    waited: 77 ms in the sync bench. The command freezes it before it serves."""
    import gc
    import io

    from simulator.server import ProviderSimulator

    frozen_when_serving = []

    def serve_forever(sim: ProviderSimulator) -> None:
        frozen_when_serving.append(gc.get_freeze_count())

    monkeypatch.setattr(ProviderSimulator, "serve_forever", serve_forever)
    try:
        call_command("run_provider_simulator", "--port", "0", stdout=io.StringIO())
    finally:
        gc.unfreeze()  # the test process keeps collecting what it made
    assert frozen_when_serving and frozen_when_serving[0] > 10_000
