"""The sync state live on a phone's page and a link's page: the block asks its fragment view for the
next state while the sync moves (htmx polling) and stops once the state is settled.

Before: the pages showed the state as it was when loaded; an operator reloaded to see a pending
sync end.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.actor import Actor
from phones.models import ProviderLink, SyncJob, SyncJobStatus, SyncState
from phones.services import phone_create
from provider_sync import links
from provider_sync.tests.conftest import BR_NUMBER, CTX


def fragment_url(phone_id: int) -> str:
    return reverse("admin:phones_phone_sync_state", args=[phone_id])


@pytest.fixture
def boss(make_operator):
    # Times in the block are the operator's zone's (UTC here, as the expected texts write them).
    return make_operator("backoffice-operator", email="boss@bank.example", time_zone="UTC")


@pytest.fixture
def linked(boss):
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


def fragment(client: Client, phone_id: int) -> str:
    response = client.get(fragment_url(phone_id))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    return response.content.decode()


def polls(html: str) -> bool:
    return "hx-trigger=" in html and "hx-get=" in html


# --- Who may ask -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["crm-operator", "itinivel1-operator", "treasury-operator", "inspetoria-operator"])
def test_every_role_that_sees_the_phone_page_gets_its_block(client, make_operator, linked, role):
    phone, _ = linked
    client.force_login(make_operator(role, email="probe@bank.example"))
    assert 'id="sync-state"' in fragment(client, phone.pk)


@pytest.mark.django_db
def test_an_operator_without_the_view_right_is_refused(client, make_operator, linked):
    phone, _ = linked
    client.force_login(make_operator(email="norole@bank.example"))
    assert client.get(reverse("admin:phones_phone_change", args=[phone.pk])).status_code == 403
    assert client.get(fragment_url(phone.pk)).status_code == 403


@pytest.mark.django_db
def test_a_phone_the_operator_cannot_see_is_not_found(client, boss, linked, monkeypatch):
    phone, _ = linked
    client.force_login(boss)
    assert client.get(fragment_url(phone.pk + 1000)).status_code == 404
    # The selectors are the gate: a phone they leave out is not there, whatever the right.
    from phones import admin as phones_admin
    from phones.models import Phone

    monkeypatch.setattr(phones_admin, "phones_visible_to", lambda user: Phone.objects.exclude(pk=phone.pk))
    assert client.get(fragment_url(phone.pk)).status_code == 404


@pytest.mark.django_db
def test_signed_out_the_fragment_is_the_sign_in_page(client, linked):
    phone, _ = linked
    response = client.get(fragment_url(phone.pk))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- What it says, per state --------------------------------------------------------------------


def set_job(link: ProviderLink, **values) -> None:
    SyncJob.objects.filter(link=link).update(**values)


@pytest.mark.django_db
def test_pending_polls(client, boss, linked):
    phone, _ = linked
    client.force_login(boss)
    html = fragment(client, phone.pk)
    assert 'data-sync-state="pending"' in html
    assert ">Pending since " in html and "waiting for Sinch</strong>" in html
    assert polls(html) and f'hx-get="{fragment_url(phone.pk)}"' in html and 'hx-swap="outerHTML"' in html
    assert "updates by itself" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", r"Pending since \d\d:\d\d, waiting for Sinch \(updates by itself\)"),
        ("pt-br", r"Pendente desde \d\d:\d\d, aguardando a Sinch \(atualização automática\)"),
    ],
)
def test_the_block_says_the_state_once(client, make_operator, linked, language, expected):
    """The state begins the status in words; a label before it said it twice ("Pending · pending
    since 14:50"), in both languages."""
    phone, _ = linked
    reader = make_operator("backoffice-operator", email="reader@bank.example", time_zone="UTC", language=language)
    client.force_login(reader)
    text = " ".join(re.sub(r"<[^>]+>", " ", fragment(client, phone.pk)).split())
    assert re.fullmatch(expected, text), text


@pytest.mark.django_db
def test_retrying_names_the_attempt_the_last_error_and_the_next_try(client, boss, linked, settings):
    settings.TIME_ZONE = "UTC"
    settings.SYNC_MAX_ATTEMPTS = 8
    phone, link = linked
    now = timezone.now()
    nxt = now + timedelta(minutes=1)
    set_job(link, attempts=1, last_status=503, last_error="Service Unavailable", next_attempt_at=nxt)
    ProviderLink.objects.filter(pk=link.pk).update(last_attempt_at=now)
    client.force_login(boss)
    html = fragment(client, phone.pk)
    assert polls(html)
    expected = f">Retrying, attempt 2 of 8, last error 503 at {now:%H:%M}, next try at {nxt:%H:%M}"
    assert expected in html


@pytest.mark.django_db
def test_in_progress_and_provisioning_poll(client, boss, linked, settings):
    settings.TIME_ZONE = "UTC"
    phone, link = linked
    client.force_login(boss)
    now = timezone.now()
    set_job(link, status=SyncJobStatus.IN_PROGRESS, attempts=1)
    html = fragment(client, phone.pk)
    assert ">In progress at Sinch, attempt 1 of" in html and polls(html)
    set_job(link, status=SyncJobStatus.PROVISIONING, provisioning_started_at=now, next_attempt_at=now)
    html = fragment(client, phone.pk)
    assert f">Provisioning at Sinch since {now:%H:%M}" in html and polls(html)


@pytest.mark.django_db
def test_synced_and_failed_stop_the_polling(client, boss, linked):
    phone, link = linked
    client.force_login(boss)
    now = timezone.now()
    set_job(link, status=SyncJobStatus.SYNCED, attempts=1, finished_at=now)
    ProviderLink.objects.filter(pk=link.pk).update(sync_state=SyncState.SYNCED, last_synced_at=now)
    html = fragment(client, phone.pk)
    assert ">Synced at " in html
    assert not polls(html) and "updates by itself" not in html
    set_job(link, status=SyncJobStatus.FAILED, attempts=1, last_status=400, last_error="Invalid plan", finished_at=now)
    ProviderLink.objects.filter(pk=link.pk).update(sync_state=SyncState.FAILED)
    html = fragment(client, phone.pk)
    assert ">Failed: Invalid plan (status 400)" in html and not polls(html)


@pytest.mark.django_db
def test_an_unlinked_phone_polls_while_the_number_is_released(client, boss, linked):
    phone, _ = linked
    SyncJob.objects.update(status=SyncJobStatus.SYNCED, finished_at=timezone.now())
    links.provider_link_remove(actor=Actor.of(boss), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    client.force_login(boss)
    html = fragment(client, phone.pk)
    assert ">Unlinked, releasing the number" in html and polls(html)
    SyncJob.objects.update(status=SyncJobStatus.SYNCED, finished_at=timezone.now())
    html = fragment(client, phone.pk)
    assert ">Unlinked, number released" in html and not polls(html)


@pytest.mark.django_db
def test_a_phone_never_linked_says_so_and_does_not_poll(client, boss):
    phone = phone_create(actor=Actor.of(boss), context=CTX, **BR_NUMBER)
    client.force_login(boss)
    html = fragment(client, phone.pk)
    assert "Not linked." in html and not polls(html)


# --- The pages carry the block ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_phone_page_and_the_link_page_carry_the_live_block(client, boss, linked):
    phone, link = linked
    client.force_login(boss)
    for page in (
        reverse("admin:phones_phone_change", args=[phone.pk]),
        reverse("admin:phones_providerlink_change", args=[link.pk]),
    ):
        html = client.get(page).content.decode()
        assert html.count('id="sync-state"') == 1, page
        assert f'hx-get="{fragment_url(phone.pk)}"' in html, page
    SyncJob.objects.update(status=SyncJobStatus.SYNCED, finished_at=timezone.now())
    html = client.get(reverse("admin:phones_phone_change", args=[phone.pk])).content.decode()
    assert 'id="sync-state"' in html and f'hx-get="{fragment_url(phone.pk)}"' not in html


# --- In Chromium: pending, then synced, without a reload -------------------------------------------

from backoffice.tests.test_browser import CHROMIUM, CI, RECORD_CSP_VIOLATIONS, browser, page_for, shot  # noqa: E402,F401


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not CI, reason="Debian's Chromium is not installed")
@pytest.mark.django_db(transaction=True)
def test_the_phone_page_shows_the_sync_end_without_a_reload(
    page_for,  # noqa: F811
    sim,
    sync_settings,
    make_linked_phone,
    queued,
    operator,
):
    """The page opens on "In progress" (the change claimed its job as it committed); the job is
    then delivered to the provider simulator by the real delivery code (as a worker would); the
    block turns "Synced" by itself, the page not reloaded, with no console error (a CSP violation
    would be one) and no polling left."""
    from playwright.sync_api import expect

    from provider_sync.tests.conftest import run_due

    sync_settings.SYNC_STATE_POLL_SECONDS = 0.5
    phone = make_linked_phone(sim, "plivo", {"alias": "acme", "app_id": "app-9"})
    page = page_for(operator.email)
    page.context.add_init_script(RECORD_CSP_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"/admin/phones/phone/{phone.pk}/change/")
    block = page.locator("#sync-state")
    expect(block).to_have_attribute("data-sync-state", "in_progress")
    expect(block.locator(".sync-state-text")).to_contain_text("In progress at Plivo, attempt 1 of 3, since ")
    page.evaluate("window.__notReloaded = true")
    shot(page, "live-sync-01-in-progress")

    assert run_due() == [SyncJobStatus.SYNCED]

    expect(block).to_have_attribute("data-sync-state", "synced", timeout=10_000)
    expect(block.locator(".sync-state-text")).to_contain_text("Synced at ")
    assert block.get_attribute("hx-trigger") is None  # the polling ended with the settled state
    assert page.evaluate("window.__notReloaded") is True
    shot(page, "live-sync-02-synced")
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "sync-state" in request.url else None)
    page.wait_for_timeout(1500)
    assert asked == [], "a settled block is not asked for again"
    assert errors == [], errors
    assert page.evaluate("window.__cspViolations") == []  # htmx's swaps and polling under the policy
    assert re.search(rf"/admin/phones/phone/{phone.pk}/change/$", page.url)
