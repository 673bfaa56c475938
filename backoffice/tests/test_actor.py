"""The actor value services take: who acted, with their roles and permissions at the time."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice import roles
from backoffice.actor import Actor
from backoffice.errors import NotAllowed

pytestmark = pytest.mark.django_db


def test_of_a_role_operator(make_operator):
    user = make_operator("crm-operator", email="ana@bank.example")
    actor = Actor.of(user)
    assert (actor.id, actor.email, actor.roles) == (user.pk, "ana@bank.example", ("crm-operator",))
    assert actor.has_perm(roles.CHANGE_PHONE) and not actor.has_perm(roles.MANAGE_PROVIDER_LINK)
    # The roles are read once per user object; a second actor costs nothing.
    with CaptureQueriesContext(connection) as queries:
        assert Actor.of(user) == actor
    assert len(queries) == 0


def test_superuser_may_do_anything_without_reading_permissions(django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@bank.example", password="x-very-long-1")
    with CaptureQueriesContext(connection) as queries:
        actor = Actor.of(admin)
    assert actor.is_superuser and actor.has_perm(roles.MANAGE_PROVIDER_LINK)
    assert len(queries) <= 1, queries.captured_queries  # its role names, never every permission


def test_inactive_or_anonymous_may_do_nothing(make_operator):
    from django.contrib.auth.models import AnonymousUser

    user = make_operator("crm-operator")
    user.is_active = False
    assert not Actor.of(user).has_perm(roles.VIEW_PHONE)
    assert not Actor.of(AnonymousUser()).has_perm(roles.VIEW_PHONE)


def test_require_raises_the_given_error_and_logs_the_denial(make_operator, caplog):
    actor = Actor.of(make_operator("treasury-operator", email="t@bank.example"))
    with pytest.raises(NotAllowed), caplog.at_level("WARNING", logger="backoffice.access"):
        actor.require(roles.CHANGE_PHONE, NotAllowed)
    assert "denied operator=t@bank.example" in caplog.text


def test_snapshot_names_the_operator_and_may_nothing():
    actor = Actor.snapshot(id=None, email="gone@bank.example", roles=["crm-operator"])
    assert actor.roles == ("crm-operator",) and not actor.has_perm(roles.VIEW_PHONE)
