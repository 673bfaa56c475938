"""The bulk inactivation's confirmation: "No, go back" returns to the list as the operator left it
(issue defect 9: it led to the bare list, the filters and the ticked rows lost)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from backoffice.tests.test_browser import CHROMIUM, CI, browser, page_for  # noqa: F401
from phones.models import Phone
from phones.tests.factories import PhoneFactory

LIST_URL = reverse("admin:phones_phone_changelist")
FILTERS = "?active__exact=1&type__exact=MOBILE"


@pytest.mark.django_db
def test_go_back_leads_to_the_list_with_its_filters(client, make_operator):
    crm = make_operator("crm-operator")
    phone = PhoneFactory(actor=crm, account_id=4321)
    client.force_login(crm)
    response = client.post(
        LIST_URL + FILTERS, {"action": "inactivate_selected", "index": "0", "_selected_action": [phone.pk]}
    )
    assert response.status_code == 200
    page = response.content.decode().replace("&amp;", "&")
    back = re.search(r'<a href="([^"]*)"[^>]*>\s*No, go back', page, re.S)
    assert back and back.group(1) == LIST_URL + FILTERS
    assert "cancel-link" in page and "admin/js/cancel" in page  # back in history where script runs
    assert Phone.objects.get(pk=phone.pk).active


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not CI, reason="Debian's Chromium is not installed")
@pytest.mark.django_db(transaction=True)
def test_go_back_in_chromium_keeps_the_filters_and_the_ticked_row(page_for, make_operator):  # noqa: F811
    from playwright.sync_api import expect

    crm = make_operator("crm-operator", email="carla.crm@bank.example")
    phones = [PhoneFactory(actor=crm, account_id=4321, number=f"9123{i}-5678") for i in range(3)]
    page = page_for(crm.email)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(LIST_URL + FILTERS)
    ticked = page.locator(f'input.action-select[value="{phones[1].pk}"]')
    ticked.check()
    page.select_option("select[name=action]", "inactivate_selected")
    page.click("button[name=index]")
    expect(page.locator("#inactivate-confirmation")).to_be_visible()
    page.get_by_role("link", name="No, go back").click()
    expect(page).to_have_url(re.compile(re.escape(LIST_URL) + r"\?"))
    assert "active__exact=1" in page.url and "type__exact=MOBILE" in page.url
    expect(page.locator(f'input.action-select[value="{phones[1].pk}"]')).to_be_checked()
    expect(page.locator(f'input.action-select[value="{phones[0].pk}"]')).not_to_be_checked()
    assert all(phone.active for phone in Phone.objects.all())
    assert errors == [], errors
