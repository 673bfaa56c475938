"""The lists in Chromium: the search box shows its whole placeholder, and the filters a list
applies show as chips above it, each one removing itself."""

from __future__ import annotations

import re

import pytest

# The browser and the signed-in page come from the journeys' module (one Chromium per module).
from backoffice.tests.test_browser import browser, pytestmark, shot  # noqa: F401
from backoffice.tests.test_browser import page_for as page_for

EMAIL_TREASURY = "tomas.treasury@bank.example"
EMAIL_MASTER = "mara.master@bank.example"
# What the phone list's placeholder said before: cut short in its 24rem box.
OLD_PLACEHOLDER = "Any part of the number (with or without formatting), an account ID or a customer ID."

# Chromium's scrollWidth does not count a placeholder's overflow: the placeholder is typed in as
# the value (same font and box), measured, and the value put back.
FITS = """(input) => {
    const typed = input.value;
    input.value = input.placeholder;
    const fits = input.scrollWidth <= input.clientWidth;
    input.value = typed;
    return fits;
}"""


def _placeholder_fits(page) -> bool:
    return page.locator("#searchbar").evaluate(FITS)


@pytest.mark.django_db(transaction=True)
def test_search_placeholders_are_not_cut_short(page_for, make_operator):
    """Failed before: the phone list's placeholder ran past its box ("Any part of the number (with
    or without formatting), an acc…")."""
    make_operator("treasury-operator", email=EMAIL_TREASURY)
    make_operator("itibackoffice-master", email=EMAIL_MASTER)
    page = page_for(EMAIL_TREASURY)
    for path in ("/admin/phones/phone/", "/admin/phones/providerlink/", "/admin/phones/syncjob/"):
        page.goto(path)
        searchbar = page.locator("#searchbar")
        assert searchbar.get_attribute("placeholder"), path
        assert _placeholder_fits(page), (path, searchbar.get_attribute("placeholder"))
    page.goto("/admin/phones/phone/")
    shot(page, "lists-01-phone-search-placeholder")
    # The measure sees a placeholder that does not fit: the old one is caught by it.
    page.locator("#searchbar").evaluate("(input, text) => { input.placeholder = text }", OLD_PLACEHOLDER)
    assert not _placeholder_fits(page)

    manager = page_for(EMAIL_MASTER)
    for path in ("/admin/backoffice/user/", "/admin/auth/group/"):
        manager.goto(path)
        assert _placeholder_fits(manager), path


@pytest.mark.django_db(transaction=True)
def test_active_filters_show_as_chips_and_each_removes_itself(page_for, make_operator):
    from playwright.sync_api import expect

    from phones.models import PhoneType
    from phones.tests.factories import PhoneFactory

    owner = make_operator("backoffice-operator", email="owner@bank.example")
    PhoneFactory(actor=owner, type=PhoneType.MOBILE, number="91111-1111")
    PhoneFactory(actor=owner, type=PhoneType.RESIDENTIAL, number="3222-2222")
    make_operator("treasury-operator", email=EMAIL_TREASURY)
    page = page_for(EMAIL_TREASURY)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    # The date range is typed in the filter panel and applied with the others.
    page.goto("/admin/phones/phone/")
    expect(page.locator("#active-filters")).to_have_count(0)
    page.locator("a", has_text="Filters").first.click()
    page.fill("input[name=updated_at_from]", "2000-01-01")
    shot(page, "lists-03-phone-filter-panel")
    page.get_by_role("button", name="Apply Filters").click()
    expect(page.locator("#active-filters .filter-chip")).to_have_count(1)
    expect(page.locator("#active-filters")).to_contain_text("Updated at from: 2000-01-01")
    assert not errors, errors

    page.goto("/admin/phones/phone/?type__exact=MOBILE&updated_at_from=2000-01-01&o=-8")
    chips = page.locator("#active-filters .filter-chip")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_contain_text("Type: Mobile")
    expect(chips.nth(1)).to_contain_text("Updated at from: 2000-01-01")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    shot(page, "lists-02-phone-filter-chips")
    chips.filter(has_text="Type: Mobile").click()
    expect(page).to_have_url(re.compile(r"\?o=-8&updated_at_from=2000-01-01$"))
    expect(page.locator("#active-filters .filter-chip")).to_have_count(1)
    expect(page.locator("#result_list tbody tr")).to_have_count(2)


@pytest.mark.django_db(transaction=True)
def test_a_manager_sees_who_is_locked_out_and_unlocks_it(page_for, make_operator, settings):
    from axes.models import AccessAttempt
    from playwright.sync_api import expect

    from audit.models import AuditEntry, AuditEvent

    jane = make_operator("crm-operator", email="jane@bank.example")
    make_operator("itibackoffice-master", email=EMAIL_MASTER)
    AccessAttempt.objects.create(  # jane's failed sign-ins at the limit
        username="jane@bank.example",
        ip_address="10.0.0.1",
        user_agent="browser",
        failures_since_start=settings.AXES_FAILURE_LIMIT,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/admin/login/",
    )
    page = page_for(EMAIL_MASTER)
    page.goto("/admin/backoffice/user/")
    row = page.locator("#result_list tbody tr", has_text="jane@bank.example")
    expect(row).to_contain_text("Locked out")
    shot(page, "lists-04-operators-locked-out")
    row.get_by_role("link", name="jane@bank.example").click()
    page.click("#unlock-link")
    expect(page.locator("#unlock-confirmation")).to_contain_text("Unlock the sign-in of jane@bank.example?")
    shot(page, "lists-05-unlock-confirmation")
    page.get_by_role("button", name="Yes, unlock").click()
    expect(page.locator("body")).to_contain_text("jane@bank.example can sign in again.")
    expect(page.locator("body")).to_contain_text("Not locked out")
    assert not AccessAttempt.objects.exists()
    assert (
        AuditEntry.objects.filter(event=AuditEvent.OPERATOR_UNLOCKED, payload__object__operator_id=jane.pk).count() == 1
    )
