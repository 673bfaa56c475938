"""Pages link only to what the role may open, and a refusal is a page of the backoffice with a way
back (issue 15): tried per role with Django's test client."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.actor import Actor
from phones.services import phone_create
from provider_sync.tests.conftest import BR_NUMBER, CTX

pytestmark = pytest.mark.django_db
AUDIT_LINK = "Audit trail of this phone"
PROVIDER_LINK = "Link to a provider"
# role: sees the audit trail link, sees the "link to a provider" link
ROLES = {
    "crm-operator": (True, False),
    "backoffice-operator": (True, True),
    "itibackoffice-operator": (True, True),
    "itinivel1-operator": (False, False),
    "inspetoria-operator": (True, False),
    "inspetoria-master": (True, False),
    "treasury-operator": (False, False),
    "geroficios-operator": (False, False),
}


@pytest.fixture
def phone(make_operator):
    boss = make_operator("backoffice-operator", email="boss@bank.example")
    return phone_create(actor=Actor.of(boss), context=CTX, **BR_NUMBER)


@pytest.mark.parametrize("role", list(ROLES))
def test_the_phone_page_links_only_to_pages_the_role_may_open(client, make_operator, phone, role):
    sees_audit, sees_link = ROLES[role]
    client.force_login(make_operator(role, email="probe@bank.example"))
    page = client.get(reverse("admin:phones_phone_change", args=[phone.pk])).content.decode()
    assert (AUDIT_LINK in page) is sees_audit
    assert (PROVIDER_LINK in page) is sees_link
    assert "Not linked." in page
    # What is shown opens; what is hidden would have been refused.
    history = client.get(reverse("admin:phones_phone_history", args=[phone.pk]))
    assert (history.status_code == 302) is sees_audit
    adding = client.get(reverse("admin:phones_providerlink_add") + f"?phone={phone.pk}")
    assert (adding.status_code == 200) is sees_link


@pytest.mark.parametrize("role", ["treasury-operator", "crm-operator", "geroficios-operator"])
def test_a_refused_page_is_the_backoffice_with_a_way_back(client, make_operator, phone, role):
    client.force_login(make_operator(role, email="probe@bank.example"))
    refused = (
        reverse("admin:phones_phone_history", args=[phone.pk])
        if role != "crm-operator"
        else reverse("admin:phones_providerlink_add")
    )
    response = client.get(refused)
    assert response.status_code == 403
    page = response.content.decode()
    assert 'id="permission-denied"' in page
    assert f'href="{reverse("admin:index")}" id="back-to-dashboard"' in page
    assert "Phone backoffice" in page  # the site's header and title
    assert reverse("admin:phones_phone_changelist") in page  # the sidebar
    assert "<script>" not in page  # no inline script: the CSP allows none
