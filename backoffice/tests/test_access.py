"""An operator's roles and permissions: one statement per user object, kept in our own attribute
(``backoffice.auth._access_of``), never in ModelBackend's private caches."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.functional import SimpleLazyObject

from backoffice import roles
from backoffice.auth import ACCESS_ATTRIBUTE, operator_roles
from backoffice.models import User

pytestmark = pytest.mark.django_db

DJANGO_PRIVATE_CACHES = ("_perm_cache", "_group_perm_cache", "_user_perm_cache")


def test_has_perm_for_a_role_operator_answers_from_one_statement(make_operator):
    operator = make_operator("crm-operator")
    User.objects.get(pk=operator.pk).has_perm(roles.VIEW_PHONE)  # warms the role matrix (PostgreSQL)
    user = User.objects.get(pk=operator.pk)
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm(roles.VIEW_PHONE) and user.has_perm(roles.ADD_PHONE)
        assert not user.has_perm(roles.VIEW_AUDIT)
        assert user.has_perms([roles.VIEW_PHONE, roles.VIEW_OWN_AUDIT]) and user.has_module_perms("phones")
        assert operator_roles(user) == ["crm-operator"]
        assert roles.VIEW_PHONE in user.get_all_permissions()
    assert len(queries) == 1, [query["sql"] for query in queries]


def test_nothing_sets_modelbackends_private_caches(make_operator):
    user = User.objects.get(pk=make_operator("crm-operator", "inspetoria-operator").pk)
    assert user.has_perm(roles.VIEW_AUDIT)
    assert operator_roles(user) == ["crm-operator", "inspetoria-operator"]
    assert not [name for name in DJANGO_PRIVATE_CACHES if hasattr(user, name)]
    assert getattr(user, ACCESS_ATTRIBUTE)[0] == ["crm-operator", "inspetoria-operator"]


def test_access_loaded_through_a_lazy_request_user_is_kept(make_operator):
    operator = make_operator("crm-operator")
    lazy = SimpleLazyObject(lambda: User.objects.get(pk=operator.pk))
    lazy.has_perm(roles.VIEW_PHONE)
    with CaptureQueriesContext(connection) as queries:
        assert lazy.has_perm(roles.VIEW_PHONE) and operator_roles(lazy) == ["crm-operator"]
    assert len(queries) == 0


def test_an_operator_without_roles_has_no_permissions(make_operator):
    user = User.objects.get(pk=make_operator().pk)
    assert not user.has_perm(roles.VIEW_PHONE) and user.get_all_permissions() == set()
    assert operator_roles(user) == []


def test_superusers_keep_djangos_behaviour(make_operator):
    user = User.objects.get(pk=make_operator(is_superuser=True).pk)
    assert user.has_perm(roles.VIEW_PHONE) and user.has_perm("anything.at_all")
    assert roles.VIEW_PHONE in user.get_all_permissions()  # ModelBackend's: every permission
    assert not hasattr(user, ACCESS_ATTRIBUTE)
