"""Navigation and sync in plain sight, in Chromium (issue 15): the sidebar leads to provider links
and sync jobs, the Re-sync button queues a job, and a refused page leads back to the dashboard."""

from __future__ import annotations

import re

import pytest

# The browser and the signed-in page come from the journeys' module (one Chromium per module).
from backoffice.tests.test_browser import browser, pytestmark, shot  # noqa: F401
from backoffice.tests.test_browser import page_for as page_for

EMAIL_N1 = "nina.n1@bank.example"
EMAIL_TREASURY = "tomas.treasury@bank.example"


def _linked_phone(make_operator):
    from backoffice.actor import Actor
    from phones.services import phone_create
    from provider_sync import links
    from provider_sync.tests.conftest import BR_NUMBER, CTX

    boss = make_operator("backoffice-operator", email="boss@bank.example")
    phone = phone_create(actor=Actor.of(boss), context=CTX, **BR_NUMBER)
    link = links.provider_link_set(
        actor=Actor.of(boss),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider="sinch",
        settings={"sms_service_plan_id": "plan-a"},
    )
    return phone, link


@pytest.mark.django_db(transaction=True)
def test_itinivel1_finds_sync_in_the_sidebar_and_resyncs_a_link(page_for, make_operator, monkeypatch):
    from playwright.sync_api import expect

    from phones import outbox
    from phones.models import SyncJob
    from phones.numbers import format_international

    published: list[int] = []  # what would go to the broker: no worker runs here
    monkeypatch.setattr(outbox, "queue_delivery", lambda job_id, countdown=None: published.append(job_id) or True)
    monkeypatch.setattr(outbox, "queue_deliveries", lambda job_ids: published.extend(job_ids) or len(job_ids))
    phone, link = _linked_phone(make_operator)
    make_operator("itinivel1-operator", email=EMAIL_N1)
    page = page_for(EMAIL_N1)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sidebar = page.locator("#nav-sidebar")
    expect(sidebar.get_by_role("link", name="Provider links")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Sync jobs")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Audit log")).to_have_count(0)
    sidebar.get_by_role("link", name="Provider links").click()
    expect(page).to_have_url(re.compile(r"/admin/phones/providerlink/$"))
    # The list writes the phone as the phones list does ("+55 11 91234-5678").
    page.get_by_role("link", name=format_international(phone.e164)).first.click()
    expect(page).to_have_url(re.compile(rf"/admin/phones/providerlink/{link.pk}/change/$"))
    jobs = SyncJob.objects.filter(link_id=link.pk).count()
    page.click("#resync-button")
    expect(page.locator("body")).to_contain_text("Re-sync queued")
    expect(page).to_have_url(re.compile(rf"/admin/phones/providerlink/{link.pk}/change/$"))
    assert SyncJob.objects.filter(link_id=link.pk).count() == jobs + 1
    assert published
    shot(page, "nav-01-resync-queued")
    page.locator("#nav-sidebar").get_by_role("link", name="Sync jobs").click()
    expect(page).to_have_url(re.compile(r"/admin/phones/syncjob/$"))
    assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.mark.django_db(transaction=True)
def test_a_refused_page_leads_back_to_the_dashboard(page_for, make_operator):
    from playwright.sync_api import expect

    phone, _ = _linked_phone(make_operator)
    make_operator("treasury-operator", email=EMAIL_TREASURY)
    page = page_for(EMAIL_TREASURY)
    page.goto(f"/admin/phones/phone/{phone.pk}/change/")
    expect(page.locator("body")).not_to_contain_text("Audit trail of this phone")
    expect(page.locator("#resync-button")).to_have_count(0)
    response = page.goto(f"/admin/phones/phone/{phone.pk}/history/")
    assert response is not None and response.status == 403
    expect(page.locator("#permission-denied")).to_be_visible()
    expect(page.locator("#nav-sidebar").get_by_role("link", name="Phones")).to_be_visible()
    shot(page, "nav-02-refused")
    page.click("#back-to-dashboard")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#dashboard")).to_contain_text("Active phones")
