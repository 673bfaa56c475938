"""The backoffice's words (issue 15): headers, labels, empty lists and messages as operators read
them, and a favicon. Django's test client, reading the HTML."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.contrib.staticfiles import finders
from django.urls import reverse

from audit.models import AuditEntry
from backoffice.actor import Actor
from phones.models import Phone, ProviderLink
from phones.services import phone_create
from phones.tests.test_phone_form import edit_form
from provider_sync import links
from provider_sync.tests.conftest import BR_NUMBER, CTX

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:phones_phone_changelist")


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


@pytest.fixture
def phone(boss):
    return phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "customer_id": 50624})


def header(html: str) -> str:
    """The page header's words (app > list > object), tags and icons left out."""
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1)
    h1 = re.sub(r"<span[^>]*material-symbols[^>]*>\s*chevron_right\s*</span>", " > ", h1)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", h1)).strip().replace(" >  > ", " > ")


def test_the_phone_pages_say_phones_once(client, boss, phone):
    client.force_login(boss)
    assert header(client.get(LIST_URL).content.decode()).startswith("Phones")
    assert "Phones > Phones" not in header(client.get(LIST_URL).content.decode())
    change = header(client.get(reverse("admin:phones_phone_change", args=[phone.pk])).content.decode())
    assert change == "Phones > +55 11 91234-5678"  # as the lists and its audit entries write it (was its E.164)
    # Other models of the app keep the app's name before theirs.
    assert header(client.get(reverse("admin:phones_providerlink_changelist")).content.decode()).startswith(
        "Phones > Provider links"
    )


def test_an_object_is_named_in_the_header_as_it_is_written(client, make_operator):
    """The header capitalised every part, the object's own name too: an operator's page read
    "Operators > Jane@bank.example", a role's "Crm-operator". App and list names start with a
    capital; an email, a role's code or a key's name are shown as they are written."""
    from django.contrib.auth.models import Group

    jane = make_operator("crm-operator", email="jane@bank.example")
    master = make_operator("itibackoffice-master", email="master@bank.example")
    client.force_login(master)
    page = header(client.get(reverse("admin:backoffice_user_change", args=[jane.pk])).content.decode())
    assert page.endswith("> jane@bank.example"), page
    assert "Jane@" not in page and page[0].isupper()
    role = Group.objects.get(name="crm-operator")
    page = header(client.get(reverse("admin:auth_group_change", args=[role.pk])).content.decode())
    assert page.endswith("> crm-operator"), page


def test_the_add_page_is_titled_add_phone(client, boss):
    client.force_login(boss)
    html = client.get(reverse("admin:phones_phone_add")).content.decode()
    assert re.search(r'id="add-title"[^>]*>Add phone</h2>', html)


def test_customer_id_is_spelled_customer_id(client, boss, phone):
    client.force_login(boss)
    for url in (LIST_URL, reverse("admin:phones_phone_change", args=[phone.pk]), reverse("admin:phones_phone_add")):
        html = client.get(url).content.decode()
        assert "Customer ID" in html, url
        assert "Customer id" not in html, url


def test_an_audit_entry_is_titled_by_its_event_and_number_in_operators_words(client, boss, phone):
    client.force_login(boss)
    entry = AuditEntry.objects.filter(phone_id=phone.pk).latest("id")
    html = client.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).content.decode()
    assert header(html).endswith("Phone created: +55 11 91234-5678")  # formatted as in the lists
    assert "Phone_creation #" not in html and "phone_creation #" not in html
    for label in ("Request ID", "IP address", "Account ID"):
        assert label in html
    for wrong in ("Request id", "Ip address", "Account id"):
        assert wrong not in html
    listing = client.get(reverse("admin:audit_auditentry_changelist")).content.decode()
    assert "Account ID" in listing and "Account id" not in listing


def test_a_phone_that_is_not_there_is_not_perhaps_deleted(client, boss):
    client.force_login(boss)
    response = client.get(reverse("admin:phones_phone_change", args=[987654]), follow=True)
    page = response.content.decode()
    assert "Perhaps it was deleted?" not in page
    assert "There is no phone with ID “987654”" in page
    assert response.redirect_chain[-1][0] == LIST_URL


def test_an_empty_list_says_no_phones_match_these_filters(client, boss, phone):
    client.force_login(boss)
    page = client.get(LIST_URL + "?q=00000000").content.decode()
    assert "No phones match these filters." in page
    assert "yielded into no results" not in page


def test_no_drift_is_neutral_text(client, boss, phone):
    links.provider_link_set(
        actor=Actor.of(boss),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider="sinch",
        settings={"sms_service_plan_id": "plan-a"},
    )
    client.force_login(boss)
    response = client.get(reverse("admin:phones_providerlink_changelist"))
    row = response.content.decode().split("<tbody")[1]
    assert "No drift" in row
    assert "close_small" not in row  # unfold's red cross of a False boolean
    ProviderLink.objects.update(drift={"display_name": {"ours": "A", "theirs": "B"}})
    row = client.get(reverse("admin:phones_providerlink_changelist")).content.decode().split("<tbody")[1]
    assert "Drift: display_name" in row


def test_saving_an_unchanged_phone_does_not_say_changed_successfully(client, boss, phone):
    client.force_login(boss)
    entries = AuditEntry.objects.filter(phone_id=phone.pk).count()
    form = edit_form(phone, customer_id="50624")
    response = client.post(reverse("admin:phones_phone_change", args=[phone.pk]), form)
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "changed successfully" not in message
    assert message == "Nothing was changed: the phone is as it was."
    assert AuditEntry.objects.filter(phone_id=phone.pk).count() == entries
    assert Phone.objects.get(pk=phone.pk).extension == phone.extension


def test_the_admin_pages_link_a_local_svg_favicon(client, boss):
    client.force_login(boss)
    html = client.get(LIST_URL).content.decode()
    match = re.search(r'<link rel="icon" type="image/svg\+xml" href="/static/([^"]+)">', html)
    assert match, "no favicon"
    found = finders.find(match.group(1))
    assert found and open(found).read().lstrip().startswith("<svg")  # noqa: SIM115


def test_the_favicon_is_served_where_browsers_ask_for_it(client):
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer.url.endswith("backoffice/favicon.svg")
