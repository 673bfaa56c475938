"""Linking and unlinking from the admin: the defects operators met (issue "The backoffice operators
live in", 4 and 10), each with the test that failed before its fix."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.actor import Actor
from phones import services
from phones.models import ProviderLink
from provider_sync.tests.conftest import CTX
from provider_sync.tests.test_admin import ADD_URL, LINKS_URL, add_form, link, make_phone

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


def errors_of(response) -> str:
    assert response.status_code == 200, "the form came back"
    return " ".join(str(error) for errors in response.context["adminform"].form.errors.values() for error in errors)


# --- 10: linking an inactive or unknown phone said "Select a valid choice" -------------------------


def test_linking_an_inactive_phone_says_why(client, boss):
    phone = make_phone(boss)
    services.phone_inactivate(actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    client.force_login(boss)
    response = client.post(ADD_URL, add_form(phone, sinch_sms_service_plan_id="plan-a"))
    errors = errors_of(response)
    assert "An inactive phone cannot be linked." in errors
    assert "Select a valid choice" not in errors
    assert not ProviderLink.objects.exists()


def test_linking_an_unknown_phone_names_the_id(client, boss):
    phone = make_phone(boss)
    client.force_login(boss)
    response = client.post(ADD_URL, {**add_form(phone, sinch_sms_service_plan_id="plan-a"), "phone": "999999"})
    errors = errors_of(response)
    assert "There is no phone with ID 999999." in errors
    assert "Select a valid choice" not in errors


# --- 4: "Delete provider link" was refused even to a superuser -------------------------------------


@pytest.mark.parametrize("role", ["superuser", "backoffice-operator", "itibackoffice-operator"])
def test_a_role_that_manages_links_unlinks_from_the_links_page(client, make_operator, boss, role):
    phone = make_phone(boss)
    made = link(boss, phone)
    who = make_operator(is_superuser=True, email="root@bank.example") if role == "superuser" else make_operator(role)
    client.force_login(who)
    page = client.get(reverse("admin:phones_providerlink_change", args=[made.pk])).content.decode()
    delete_url = reverse("admin:phones_providerlink_delete", args=[made.pk])
    assert delete_url in page
    confirmation = client.get(delete_url)
    assert confirmation.status_code == 200
    said = confirmation.content.decode()
    assert f"Unlink {made}?" in said and "will be deleted" not in said  # it unlinks: says so
    response = client.post(delete_url, {"post": "yes"})
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.linked is False  # unlinked through the service: the row stays, released


def test_a_role_without_the_link_right_is_refused_the_unlink(client, make_operator, boss):
    made = link(boss, make_phone(boss))
    client.force_login(make_operator("itinivel1-operator"))
    assert client.get(reverse("admin:phones_providerlink_delete", args=[made.pk])).status_code == 403
    made.refresh_from_db()
    assert made.linked is True


# --- Seen in the crawler's screenshots ----------------------------------------------------------


def test_a_new_links_page_shows_no_sync_state_and_nothing_is_a_dash(client, boss):
    """The add page showed a "Sync state" section with "Linked ✓" for a link that did not exist
    yet, and the voice type's empty choice read "-" where the backoffice says "—" for nothing."""
    client.force_login(boss)
    response = client.get(ADD_URL)
    fieldsets = response.context["adminform"].fieldsets
    names = [name for _, options in fieldsets for name in options["fields"]]
    assert "linked" not in names and "last_synced_at" not in names
    assert "Sync details" not in [title for title, _ in fieldsets]
    assert '<option value="" selected>—</option>' in response.content.decode()


def test_the_links_pages_name_the_sync_status_once_in_portuguese(client, make_operator, boss):
    """The link's page read "Situação da sincronização" above and "Estado da sincronização" over
    its details, and the list's filter "estado" beside its column "situação": two words for one
    thing. One word now; the section is the status's details."""
    made = link(boss, make_phone(boss))
    reader = make_operator("backoffice-operator", email="leitor@bank.example", language="pt-br")
    client.force_login(reader)
    page = client.get(reverse("admin:phones_providerlink_change", args=[made.pk])).content.decode()
    listing = client.get(LINKS_URL).content.decode()
    assert "Situação da sincronização" in page and "Detalhes da sincronização" in page
    assert "situação da sincronização" in listing.lower()
    for html in (page, listing):
        assert "estado da sincronização" not in html.lower()


def test_the_new_links_phone_box_says_where_its_id_comes_from(client, boss):
    """The add page's phone was a bare id box with a magnifier, nothing saying what to type (seen
    by the crawler's screenshots' second reader)."""
    client.force_login(boss)
    page = " ".join(client.get(ADD_URL).content.decode().split())
    assert "open this form from the phone's page (Link to a provider)" in page
    assert "find the phone by its number with the magnifier" in page
