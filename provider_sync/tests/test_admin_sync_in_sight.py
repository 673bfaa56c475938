"""Sync in plain sight (issue 15): the sync state as a phone list filter, the dashboard's failures
card counting links failing now, and the "Re-sync" button of a phone's page and a link's page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from backoffice.actor import Actor
from phones.admin import PhoneAdmin, SyncStateFilter
from phones.models import ProviderLink, SyncJob, SyncJobStatus, SyncState
from phones.services import phone_create
from provider_sync import links
from provider_sync.tests.conftest import BR_NUMBER, CTX

pytestmark = pytest.mark.django_db
PHONES_URL = reverse("admin:phones_phone_changelist")


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


def make_phone(boss, number):
    return phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "number": number})


def make_link(boss, phone):
    return links.provider_link_set(
        actor=Actor.of(boss),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider="sinch",
        settings={"sms_service_plan_id": "plan-a"},
    )


def listed(client, query):
    response = client.get(PHONES_URL + query)
    assert response.status_code == 200
    return {phone.pk for phone in response.context["cl"].result_list}


# --- The phone list filter -------------------------------------------------------------------


def test_the_phone_list_filters_by_sync_state(client, boss):
    phones = {state: make_phone(boss, f"9123{i}-5678") for i, state in enumerate(SyncState.values)}
    for state, phone in phones.items():
        ProviderLink.objects.filter(pk=make_link(boss, phone).pk).update(sync_state=state)
    never = make_phone(boss, "91239-0000")
    unlinked = make_phone(boss, "91239-1111")
    gone = make_link(boss, unlinked)
    ProviderLink.objects.filter(pk=gone.pk).update(linked=False, sync_state=SyncState.FAILED)
    assert SyncStateFilter in PhoneAdmin.list_filter
    client.force_login(boss)
    for state, phone in phones.items():
        assert listed(client, f"?sync_state={state}") == {phone.pk}, state
    assert listed(client, "?sync_state=not_linked") == {never.pk, unlinked.pk}
    page = client.get(PHONES_URL).content.decode()
    for label in ("Synced", "Pending", "In progress", "Provisioning", "Failed", "Not linked"):
        assert label in page


def test_a_made_up_sync_state_is_ignored_with_a_message(client, boss):
    phone = make_phone(boss, "91234-5678")
    client.force_login(boss)
    response = client.get(PHONES_URL + "?sync_state=exploded", follow=True)
    assert response.status_code == 200
    assert phone.pk in {p.pk for p in response.context["cl"].result_list}
    assert "Ignored the filter" in response.content.decode()


# --- The dashboard card ----------------------------------------------------------------------


def test_the_failures_card_counts_links_failing_now_and_opens_them(client, boss):
    failing = make_link(boss, make_phone(boss, "91234-0001"))
    recovered = make_link(boss, make_phone(boss, "91234-0002"))
    released = make_link(boss, make_phone(boss, "91234-0003"))
    ProviderLink.objects.filter(pk=failing.pk).update(sync_state=SyncState.FAILED)
    ProviderLink.objects.filter(pk=released.pk).update(sync_state=SyncState.FAILED, linked=False)
    # A job that failed once, then the link synced: a past failure, not one now.
    ProviderLink.objects.filter(pk=recovered.pk).update(sync_state=SyncState.SYNCED)
    SyncJob.objects.filter(link__in=[recovered, released]).update(status=SyncJobStatus.FAILED)
    client.force_login(boss)
    response = client.get(reverse("admin:index"))
    assert response.context["sync_failures"] == 1
    url = response.context["sync_failures_url"]
    assert url in response.content.decode().replace("&amp;", "&")
    shown = client.get(url)
    assert [link.pk for link in shown.context["cl"].result_list] == [failing.pk]


# --- The "Re-sync" button --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "may"),
    [
        ("backoffice-operator", True),
        ("itinivel1-operator", True),
        ("treasury-operator", False),
        ("crm-operator", False),
    ],
)
def test_the_resync_button_shows_for_roles_that_may_resync(client, boss, make_operator, role, may):
    phone = make_phone(boss, "91234-5678")
    made = make_link(boss, phone)
    client.force_login(make_operator(role, email="probe@bank.example"))
    for page in (
        reverse("admin:phones_phone_change", args=[phone.pk]),
        reverse("admin:phones_providerlink_change", args=[made.pk]),
    ):
        html = client.get(page).content.decode()
        assert ('id="resync-button"' in html) is may, page
        if may:
            assert f'action="{reverse("admin:phones_providerlink_resync", args=[phone.pk])}"' in html
            assert "csrfmiddlewaretoken" in html.split('id="resync-form"')[1].split("</form>")[0]


def test_no_resync_button_for_a_phone_without_a_link(client, boss):
    phone = make_phone(boss, "91234-5678")
    client.force_login(boss)
    html = client.get(reverse("admin:phones_phone_change", args=[phone.pk])).content.decode()
    assert 'id="resync-button"' not in html


def test_the_button_queues_a_resync_and_returns_to_the_page(make_operator, boss):
    phone = make_phone(boss, "91234-5678")
    made = make_link(boss, phone)
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_operator("itinivel1-operator", email="n1@bank.example"))
    page = reverse("admin:phones_providerlink_change", args=[made.pk])
    html = client.get(page).content.decode()
    token = html.split('id="resync-form"')[1].split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    url = reverse("admin:phones_providerlink_resync", args=[phone.pk])
    jobs_before = SyncJob.objects.filter(link=made).count()
    assert client.post(url, {"next": page}).status_code == 403  # no CSRF token: refused
    assert client.get(url).status_code == 405
    response = client.post(url, {"csrfmiddlewaretoken": token, "next": page})
    assert response.status_code == 302 and response.url == page
    assert SyncJob.objects.filter(link=made).count() == jobs_before + 1
    assert AuditEntry.objects.filter(phone_id=phone.pk, event="phone_sync_requested").count() == 1
    # Elsewhere than this site: back to the phone's page instead.
    response = client.post(url, {"csrfmiddlewaretoken": token, "next": "https://evil.example/"})
    assert response.url == reverse("admin:phones_phone_change", args=[phone.pk])


def test_a_role_without_resync_is_refused(client, boss, make_operator):
    phone = make_phone(boss, "91234-5678")
    make_link(boss, phone)
    client.force_login(make_operator("treasury-operator", email="t@bank.example"))
    before = SyncJob.objects.count()
    assert client.post(reverse("admin:phones_providerlink_resync", args=[phone.pk])).status_code == 403
    assert SyncJob.objects.count() == before


def test_resync_of_an_unlinked_phone_says_why(client, boss):
    phone = make_phone(boss, "91234-5678")
    client.force_login(boss)
    response = client.post(reverse("admin:phones_providerlink_resync", args=[phone.pk]), follow=True)
    assert response.status_code == 200
    assert SyncJob.objects.count() == 0
    assert "not linked" in response.content.decode().lower()
