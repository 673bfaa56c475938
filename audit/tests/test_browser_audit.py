"""The audit log in a real browser (Playwright driving Debian's Chromium): the list with numbers
and changes, the number search, the date range filter and an entry page, with no console error.
Screenshots land in ``test-output/screenshots/audit-*.png`` for review."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.models import AuditEntry, Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from backoffice.tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CI = os.environ.get("CI", "").lower() == "true"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ZONE = "America/Sao_Paulo"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not CI, reason="Debian's Chromium is not installed"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_an_inspector_reads_the_audit_log(browser, live_server, make_operator, settings):
    from playwright.sync_api import expect

    from backoffice.services import operator_change
    from phones.services import phone_create, phone_update
    from provider_sync import links

    # The server's thread reads the default zone (the per-operator one is the middleware's).
    settings.TIME_ZONE = ZONE
    settings.MFA_REQUIRED_PERMISSIONS = []  # a password alone: MFA has its own browser tests
    boss = make_operator("backoffice-operator", email="boss@bank.example")
    make_operator("inspetoria-operator", email="inspector@bank.example")
    root = make_operator(is_superuser=True, email="root@bank.example")
    ctx = AuditContext(origin=Origin.CRM, request_id="req-browser")
    mine = phone_create(
        actor=Actor.of(boss), context=ctx, account_id=10, number="91234-5678", type="MOBILE", area_code=11
    )
    phone_create(actor=Actor.of(boss), context=ctx, account_id=20, number="3333-4444", type="RESIDENTIAL", area_code=21)
    phone_update(
        actor=Actor.of(boss),
        context=ctx,
        account_id=10,
        phone_id=mine.pk,
        data={"number": "95555-0000", "extension": "7"},
    )
    links.provider_link_set(
        actor=Actor.of(boss),
        context=ctx,
        account_id=10,
        phone_id=mine.pk,
        provider="sinch",
        settings={"display_name": "Bank", "sms_service_plan_id": "plan-a"},
    )
    operator_change(actor=root, operator=boss, roles=["backoffice-operator"], full_name="Bo Ss", is_active=True)

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_server.url, timezone_id=ZONE)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/admin/login/")
    page.fill("#id_username", "inspector@bank.example")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))

    page.goto("/admin/audit/auditentry/")
    rows = page.locator("#result_list")
    expect(rows).to_contain_text("+55 11 95555-0000")
    expect(rows).to_contain_text("Number: 91234-5678 → 95555-0000; Extension: — → 7")
    expect(rows).to_contain_text("Display name: Bank, SMS service plan ID: plan-a; Linked: — → Yes")
    expect(rows).not_to_contain_text("Phone ID")
    expect(page.locator("#audit-time-zone")).to_contain_text(f"Times are shown in {ZONE}.")
    expect(rows).not_to_contain_text(f"#{mine.pk}")
    shot(page, "audit-list")

    # The number typed as a person reads it finds the phone's entries only.
    page.goto("/admin/audit/auditentry/?q=(11) 95555-0000")
    expect(rows).to_contain_text("Phone changed")
    expect(rows).not_to_contain_text("+55 21")
    shot(page, "audit-list-number-search")

    # The date range: today in the zone, both ends included.
    from django.utils import timezone

    with timezone.override(ZONE):
        today = timezone.localdate().isoformat()
    page.goto("/admin/audit/auditentry/")
    page.locator("a", has_text="Filters").click()
    page.fill("input[name=created_at_from]", today)
    page.fill("input[name=created_at_to]", today)
    shot(page, "audit-list-filters")
    page.get_by_role("button", name="Apply Filters").click()
    page.wait_for_url(re.compile(rf".*created_at_from={today}.*"))
    assert f"created_at_to={today}" in page.url
    expect(rows).to_contain_text("Phone created")
    page.goto("/admin/audit/auditentry/?created_at_from=2999-01-01")
    expect(page.locator("body")).to_contain_text("No audit entries match these filters.")

    change = AuditEntry.objects.filter(phone=mine, event="phone_change").get()
    page.goto(f"/admin/audit/auditentry/{change.pk}/change/")
    body = page.locator("body")
    expect(body).to_contain_text(f"({ZONE})")
    expect(body).to_contain_text("Payload (as stored)")
    expect(page.locator("pre.audit-payload")).to_contain_text('"method": "PATCH"')
    shot(page, "audit-entry-phone-change")
    page.locator(".audit-changes").evaluate("table => table.scrollIntoView({block: 'center'})")
    expect(page.locator(".audit-changes")).to_contain_text("Number")
    page.screenshot(path=str(SCREENSHOTS / "audit-entry-phone-change-changes.png"))
    link = AuditEntry.objects.filter(phone=mine, event="phone_link_change").get()
    page.goto(f"/admin/audit/auditentry/{link.pk}/change/")
    expect(page.locator(".audit-changes")).to_contain_text("SMS service plan ID")
    shot(page, "audit-entry-link-change")
    roles = AuditEntry.objects.filter(event="operator_changed").latest("id")
    page.goto(f"/admin/audit/auditentry/{roles.pk}/change/")
    expect(body).to_contain_text("boss@bank.example")
    shot(page, "audit-entry-operator-changed")
    context.close()
    assert errors == [], errors
