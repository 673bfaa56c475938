from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backoffice.models import User

pytestmark = pytest.mark.django_db


def test_create_operator_creates_then_updates_roles(make_operator):
    call_command(
        "create_operator",
        "Ana@Bank.example",
        "--role",
        "crm-operator",
        "--role",
        "inspetoria-operator",
        "--password",
        "s3cret-pass",
    )
    user = User.objects.get(email="ana@bank.example")
    assert sorted(user.groups.values_list("name", flat=True)) == ["crm-operator", "inspetoria-operator"]
    assert user.check_password("s3cret-pass")
    call_command("create_operator", "ana@bank.example", "--role", "treasury-operator")
    user.refresh_from_db()
    assert list(user.groups.values_list("name", flat=True)) == ["treasury-operator"]
    assert user.check_password("s3cret-pass")  # unchanged without --password


def test_create_operator_rejects_unknown_or_missing_roles(make_operator):
    with pytest.raises(CommandError, match="Unknown role"):
        call_command("create_operator", "x@bank.example", "--role", "god-mode")
    with pytest.raises(CommandError, match="at least one"):
        call_command("create_operator", "x@bank.example")
    assert not User.objects.filter(email="x@bank.example").exists()
