"""The dashboard: the core renders the cards the feature apps registered, in their order."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from audit.dashboard import recent_changes_card
from backoffice import dashboard
from phones.dashboard import PHONE_TOTALS_KEY, phone_totals_card, sync_failures_card
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db


def test_the_features_register_their_cards_in_order():
    assert dashboard.dashboard_cards() == [phone_totals_card, sync_failures_card, recent_changes_card]


def test_registering_a_card_again_changes_nothing(monkeypatch):
    monkeypatch.setattr(dashboard, "_cards", [])

    def first(request):
        return {"a": 1}

    def second(request):
        return {"a": 2, "b": 2}

    dashboard.register_card(second, order=20)
    dashboard.register_card(first, order=10)
    dashboard.register_card(second, order=5)
    assert dashboard.dashboard_cards() == [first, second]
    assert dashboard.dashboard_callback(None, {"kept": True}) == {"kept": True, "a": 2, "b": 2}


def test_the_dashboard_shows_the_cards_the_operator_may_see(client, make_operator):
    cache.delete(PHONE_TOTALS_KEY)
    operator = make_operator("backoffice-operator")
    PhoneFactory(account_id=1, actor=operator)
    PhoneFactory(account_id=2, actor=operator, active=False)
    client.force_login(operator)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    context = response.context
    assert context["show_phone_stats"] and context["show_recent_changes"]
    assert (context["phone_totals"]["active"], context["phone_totals"]["inactive"]) == (1, 1)
    assert context["phone_type_table"]["headers"] == ["Type", "Active", "Inactive", "Total"]
    assert ["Mobile", 1, 1, 2] in context["phone_type_table"]["rows"]
    assert context["phones_url"] == reverse("admin:phones_phone_changelist")
    assert context["sync_failures"] == 0
    assert context["created_24h"] == 2 and context["changes_24h"] >= 2
    assert context["audit_url"].startswith(reverse("admin:audit_auditentry_changelist") + "?created_at_from=")
    page = response.content.decode()
    assert 'id="stat-active">1<' in page and 'id="stat-inactive">1<' in page


def test_an_operator_without_roles_sees_no_card(client, make_operator):
    operator = make_operator()
    client.force_login(operator)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert not response.context["show_phone_stats"] and not response.context["show_recent_changes"]
    assert "sync_failures" not in response.context and "phone_totals" not in response.context
    assert "has no role that gives access" in response.content.decode()
