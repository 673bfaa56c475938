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
