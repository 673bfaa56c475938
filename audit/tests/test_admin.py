from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from audit.services import AuditContext
from backoffice.actor import Actor
from phones.services import phone_update
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:audit_auditentry_changelist")


def entry_url(entry):
    return reverse("admin:audit_auditentry_change", args=[entry.pk])


@pytest.fixture
def trail(make_operator):
    crm = make_operator("crm-operator", email="crm@bank.example")
    other = make_operator("backoffice-operator", email="other@bank.example")
    mine = PhoneFactory(actor=crm, account_id=10, number="91234-5678")
    phone_update(
        actor=Actor.of(crm),
        context=AuditContext(origin="CRM"),
        account_id=10,
        phone_id=mine.pk,
        data={"number": "95555-0000"},
    )
    theirs = PhoneFactory(actor=other, account_id=20)
    return {"crm": crm, "other": other, "mine": mine, "theirs": theirs}


def listed(response):
    return list(response.context["cl"].result_list)


def test_crm_operator_sees_only_its_own_entries(client, trail):
    client.force_login(trail["crm"])
    entries = listed(client.get(LIST_URL))
    assert {e.operator_email for e in entries} == {"crm@bank.example"} and len(entries) == 2
    foreign = AuditEntry.objects.get(phone=trail["theirs"])
    assert client.get(entry_url(foreign)).status_code == 302  # not found for this operator
    assert client.get(LIST_URL, {"q": str(trail["theirs"].pk)}).context["cl"].result_list.count() == 0


def test_nobody_can_add_change_or_delete_entries_not_even_a_superuser(client, trail, make_operator):
    root = make_operator(is_superuser=True, email="root@bank.example")
    client.force_login(root)
    entry = AuditEntry.objects.filter(phone=trail["mine"]).first()
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert client.post(entry_url(entry), {"event": "phone_creation", "operator_email": "x@y"}).status_code == 403
    assert client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    listing = client.get(LIST_URL)
    assert listing.status_code == 200 and len(listing.context["cl"].result_list) == 3
    assert "delete_selected" not in listing.content.decode()
    after = AuditEntry.objects.get(pk=entry.pk)
    assert (after.event, after.operator_email, after.hash) == (entry.event, entry.operator_email, entry.hash)


def test_detail_shows_pretty_payload_and_old_to_new(client, trail):
    client.force_login(trail["other"])
    change = AuditEntry.objects.filter(phone=trail["mine"]).latest("id")
    html = client.get(entry_url(change)).content.decode()
    assert "PATCH /v1/accounts/:accountId/phones/:phoneId" in html
    assert '<pre class="audit-payload' in html and "\n  &quot;method&quot;: &quot;PATCH&quot;" in html
    assert "91234-5678</td><td" in html and "95555-0000" in html and "→" in html
    assert 'name="_save"' not in html


@pytest.mark.parametrize(
    ("query", "emails"),
    [
        ({"event__exact": "phone_change"}, {"crm@bank.example"}),
        ({"origin__exact": "COMMAND"}, {"crm@bank.example", "other@bank.example"}),
        ({"origin__exact": "CRM"}, {"crm@bank.example"}),
        ({"email": "Other@bank.example"}, {"other@bank.example"}),
        ({"role": "backoffice-operator"}, {"other@bank.example"}),
        ({"role": "crm-operator"}, {"crm@bank.example"}),
        ({"q": "other@bank.example"}, {"other@bank.example"}),
        ({"account": "20"}, {"other@bank.example"}),
    ],
)
def test_filters_and_search(client, trail, query, emails):
    client.force_login(trail["other"])
    assert {e.operator_email for e in listed(client.get(LIST_URL, query))} == emails


def test_date_filter_and_phone_history_link(client, trail):
    client.force_login(trail["other"])
    today = listed(client.get(LIST_URL, {"created_at__gte": "2000-01-01 00:00:00+00:00"}))
    assert len(today) == 3
    assert listed(client.get(LIST_URL, {"created_at__gte": "2999-01-01 00:00:00+00:00"})) == []
    mine = listed(client.get(LIST_URL, {"phone": trail["mine"].pk}))
    assert [e.event for e in mine] == ["phone_change", "phone_creation"]


def test_the_filters_the_list_applies_show_as_chips(client, trail):
    """A phone's "Open in the audit log" and the dashboard's "last 24 h" open the list filtered,
    with only the Filters button coloured to say so (found in the crawler's screenshots): the
    list now shows its filters as chips, as the other lists do, each removable."""
    from phones.tests.test_admin_list_filters import chips

    client.force_login(trail["other"])
    phone = trail["mine"]
    # The phone by its number, as the column shows it (it read "Phone ID: 8").
    assert chips(client.get(LIST_URL, {"phone": phone.pk})) == {"Phone: +55 11 95555-0000": "?"}
    since = chips(
        client.get(LIST_URL, {"created_at__gte": "2026-04-01T00:00:00+00:00", "event__exact": "phone_change"})
    )
    assert set(since) == {"Date from: 2026-03-31 21:00:00 (America/Sao_Paulo)", "Event: Phone changed"}
    # The dashboard's chart opens the list with ``event__in``: the events in words, not their codes.
    charted = chips(client.get(LIST_URL, {"event__in": "phone_creation,phone_change"}))
    assert list(charted) == ["Event: Phone created, Phone changed"]


def test_the_phone_chip_names_only_a_phone_the_operator_may_read_about(client, trail):
    """The chip's number comes through the list's own gate: an operator who reads only their own
    entries, filtering by another's phone, learns nothing from the chip (its id as typed)."""
    from phones.tests.test_admin_list_filters import chips

    client.force_login(trail["crm"])
    theirs = trail["theirs"]
    assert chips(client.get(LIST_URL, {"phone": theirs.pk})) == {f"Phone ID: {theirs.pk}": "?"}
    assert chips(client.get(LIST_URL, {"phone": trail["mine"].pk})) == {"Phone: +55 11 95555-0000": "?"}
