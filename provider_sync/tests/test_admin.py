"""The provider link in the admin: its sync status in words, and numbers it refuses to link."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from backoffice.actor import Actor
from phones.models import ProviderLink, SyncJob
from phones.services import phone_create
from provider_sync import checks, links
from provider_sync.checks import NO_E164
from provider_sync.tests.conftest import BR_NUMBER, CTX

pytestmark = pytest.mark.django_db
LINKS_URL = reverse("admin:phones_providerlink_changelist")
ADD_URL = reverse("admin:phones_providerlink_add")
CANNOT = "This number cannot be linked to a provider: libphonenumber finds {} impossible for its country."


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


@pytest.fixture
def boss_client(client, boss):
    client.force_login(boss)
    return client


def make_phone(boss, number="91234-5678", account_id=7001):
    return phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "number": number, "account_id": account_id})


def link(boss, phone, **kwargs):
    return links.provider_link_set(
        actor=Actor.of(boss),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider="sinch",
        settings={"sms_service_plan_id": "plan-a"},
        **kwargs,
    )


def add_form(phone, **overrides):
    form = {"phone": str(phone.pk), "provider": "sinch", "remote_number": "", "_save": "Save"}
    for key in ("display_name", "sms_service_plan_id", "sms_campaign_id", "voice_type", "voice_target_id"):
        form[f"sinch_{key}"] = ""
    form["sinch_callback_url"] = ""
    for key in ("alias", "app_id", "subaccount", "compliance_application_id"):
        form[f"plivo_{key}"] = ""
    return {**form, **overrides}


def test_the_link_page_shows_the_sync_status_at_the_top(boss_client, boss):
    made = link(boss, make_phone(boss))
    SyncJob.objects.update(attempts=1, last_status=503, last_error="Service Unavailable")
    page = boss_client.get(reverse("admin:phones_providerlink_change", args=[made.pk])).content.decode()
    assert "Sync status" in page
    text = "Retrying, attempt 2 of"
    assert text in page and "last error 503 at" in page
    assert page.index(text) < page.index("Sinch settings")


def test_the_link_list_shows_each_status_without_a_query_per_row(boss_client, boss):
    link(boss, make_phone(boss))

    def list_queries():
        with CaptureQueriesContext(connection) as captured:
            response = boss_client.get(LINKS_URL)
        assert response.status_code == 200
        return len(captured.captured_queries), response.content.decode()

    one, _ = list_queries()
    for i in range(4):
        link(boss, make_phone(boss, number=f"98{i}34-5678", account_id=7100 + i))
    SyncJob.objects.filter(pk=SyncJob.objects.order_by("id").first().pk).update(
        status="failed", last_status=400, last_error="Invalid plan"
    )
    five, page = list_queries()
    assert five == one
    assert page.count(">Pending since") == 4 and "Failed: Invalid plan (status 400) at" in page


def test_the_list_actions_still_get_a_plain_queryset(boss_client, boss):
    made = link(boss, make_phone(boss))
    response = boss_client.post(LINKS_URL, {"action": "resync_links", "_selected_action": [made.pk]})
    assert response.status_code == 302
    assert SyncJob.objects.order_by("-id").first().reason == "resync"


def test_the_phone_page_and_list_show_the_status(boss_client, boss):
    phone = make_phone(boss)
    link(boss, phone)
    page = boss_client.get(reverse("admin:phones_phone_change", args=[phone.pk])).content.decode()
    assert "pending since" in page and "waiting for Sinch" in page
    ProviderLink.objects.update(sync_state="failed", last_status=400, last_error="Invalid plan")
    listing = boss_client.get(reverse("admin:phones_phone_changelist")).content.decode()
    assert 'title="failed: Invalid plan (status 400)"' in listing


def test_the_add_form_refuses_a_phone_whose_number_is_impossible(boss_client, boss):
    phone = make_phone(boss, number="9")
    response = boss_client.post(ADD_URL, add_form(phone))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["phone"] == [NO_E164]
    assert not ProviderLink.objects.exists() and not SyncJob.objects.exists()
    assert AuditEntry.objects.filter(phone=phone).count() == 1


def test_the_form_refuses_an_impossible_remote_number(boss_client, boss):
    phone = make_phone(boss)
    response = boss_client.post(ADD_URL, add_form(phone, remote_number="+55119"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["remote_number"] == [CANNOT.format("+55119")]
    made = link(boss, phone)
    change = reverse("admin:phones_providerlink_change", args=[made.pk])
    form = add_form(phone, remote_number="+1202555014", sinch_sms_service_plan_id="plan-a")
    del form["phone"]
    response = boss_client.post(change, form)
    assert response.context["adminform"].form.errors["remote_number"] == [CANNOT.format("+1202555014")]
    assert ProviderLink.objects.get().remote_number == "" and SyncJob.objects.count() == 1


def test_a_number_found_impossible_only_at_the_save_is_an_error_message(boss_client, boss, monkeypatch):
    """The form's check passed, the service's failed (the phone changed meanwhile): the service's
    message is shown and nothing is saved."""
    phone = make_phone(boss)
    answers = iter([True, False])
    monkeypatch.setattr(checks, "is_possible_e164", lambda number: next(answers))
    response = boss_client.post(ADD_URL, add_form(phone), follow=True)
    assert CANNOT.format("+5511912345678") in [str(m) for m in response.context["messages"]]
    assert not ProviderLink.objects.exists() and not SyncJob.objects.exists()


def test_the_phone_lists_resync_action_queues_a_resync_for_linked_phones(boss_client, boss):
    """It answered 500 for every selection (``values("pk")`` dicts given as ids)."""
    linked = make_phone(boss)
    link(boss, linked)
    alone = make_phone(boss, number="3333-4444")
    response = boss_client.post(
        reverse("admin:phones_phone_changelist"),
        {"action": "resync_phones", "_selected_action": [linked.pk, alone.pk]},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert "Re-sync queued for 1 phone." in shown and "1 phone has no provider link." in shown
    assert SyncJob.objects.filter(phone=linked, reason="resync").count() == 1


def test_after_an_unlink_the_phone_page_and_list_no_longer_say_synced(boss_client, boss):
    """After an unlink, the phone page and list still said "Synced"."""
    phone = make_phone(boss)
    made = link(boss, phone)
    links.provider_link_remove(actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    # The release reached the provider: recorded as the worker does, job and link synced.
    SyncJob.objects.filter(link=made).update(status="synced", finished_at=timezone.now())
    ProviderLink.objects.filter(pk=made.pk).update(sync_state="synced", last_synced_at=timezone.now())
    page = boss_client.get(reverse("admin:phones_phone_change", args=[phone.pk])).content.decode()
    listing = boss_client.get(reverse("admin:phones_phone_changelist")).content.decode()
    for html in (page, listing):
        assert "nlinked" in html and ">Synced" not in html


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        ("treasury-operator", False),
        ("itinivel1-operator", False),
        ("crm-operator", False),
        ("inspetoria-operator", True),
    ],
)
def test_the_sync_job_pages_name_operators_only_to_roles_that_read_the_audit(client, make_operator, boss, role, sees):
    phone = make_phone(boss)
    link(boss, phone)
    job = SyncJob.objects.get()
    client.force_login(make_operator(role))
    listing = client.get(reverse("admin:phones_syncjob_changelist"))
    page = client.get(reverse("admin:phones_syncjob_change", args=[job.pk]))
    searched = client.get(reverse("admin:phones_syncjob_changelist") + "?q=boss")
    assert listing.status_code == page.status_code == searched.status_code == 200
    for answer in (listing, page):
        assert ("boss@bank.example" in answer.content.decode()) is sees
    # A search by the operator's email finds nothing for a role that may not see it.
    assert (job.pk in [row.pk for row in searched.context["cl"].result_list]) is sees
