"""Provider link settings as operators read them (issue 15): the link page of a view-only role
shows the stored settings (Django showed "-" for each form field), and histories show a link's
settings as a small table, not a Python dict."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from backoffice.actor import Actor
from phones.models import SyncJob
from phones.services import phone_create
from provider_sync import links
from provider_sync.tests.conftest import BR_NUMBER, CTX

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(make_operator):
    boss = make_operator("backoffice-operator", email="boss@bank.example")
    phone = phone_create(actor=Actor.of(boss), context=CTX, **BR_NUMBER)
    link = links.provider_link_set(
        actor=Actor.of(boss),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider="sinch",
        settings={"sms_service_plan_id": "plan-a", "display_name": "Bank <HQ>"},
    )
    return boss, phone, link


@pytest.mark.parametrize("role", ["treasury-operator", "itinivel1-operator", "geroficios-operator"])
def test_a_view_only_role_sees_the_stored_settings(client, make_operator, linked, role):
    _, _, link = linked
    client.force_login(make_operator(role, email="probe@bank.example"))
    page = client.get(reverse("admin:phones_providerlink_change", args=[link.pk])).content.decode()
    assert 'class="shown-mapping' in page
    assert "SMS service plan ID" in page and "plan-a" in page
    assert "Bank &lt;HQ&gt;" in page  # escaped
    assert "Sinch sms service plan id" not in page and "Plivo alias" not in page


def test_a_role_that_manages_links_keeps_the_form(client, linked):
    boss, _, link = linked
    client.force_login(boss)
    page = client.get(reverse("admin:phones_providerlink_change", args=[link.pk])).content.decode()
    assert 'name="sinch_sms_service_plan_id"' in page and 'value="plan-a"' in page


def test_histories_show_link_settings_as_a_table(client, linked):
    boss, phone, _ = linked
    client.force_login(boss)
    entry = AuditEntry.objects.filter(phone_id=phone.pk, event="phone_link_change").latest("id")
    for url in (
        reverse("admin:phones_phone_change", args=[phone.pk]),
        reverse("admin:phones_phone_account", args=[phone.account_id]),
        reverse("admin:audit_auditentry_change", args=[entry.pk]),
    ):
        page = client.get(url).content.decode()
        # No Python dict: "{'sms_service_plan_id': 'plan-a', ...}", escaped or not.
        assert "&#x27;sms_service_plan_id&#x27;:" not in page and "'sms_service_plan_id':" not in page, url
        assert 'class="shown-mapping' in page, url
        assert "plan-a" in page, url


def test_histories_say_changes_in_the_audit_logs_words(client, linked):
    """The phone's and the account's history tables showed the stored keys and values
    ("linked: — → True", "provider: — → sinch", "phone_id: — → 96", "type: — → MOBILE") and the
    account's named phones "#96" (found in the crawler's screenshots), where the audit log says
    "Provider: — → Sinch; Linked: — → Yes"."""
    boss, phone, _ = linked
    client.force_login(boss)
    for url in (
        reverse("admin:phones_phone_change", args=[phone.pk]),
        reverse("admin:phones_phone_account", args=[phone.account_id]),
    ):
        html = client.get(url).content.decode()
        text = re.sub(r"\s+:", ":", re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))
        for said in ("Provider: — → Sinch", "Linked: — → Yes", "Type: — → Mobile"):
            assert said in text, (url, said)
        for raw in ("provider:", "linked:", "True", "MOBILE", "phone_id", "Phone ID", f"#{phone.pk}"):
            assert raw not in text, (url, raw)
    # The account's history names the phone on one line, as its list does.
    assert '<span class="whitespace-nowrap">+55 11 91234-5678</span>' in html


def test_the_link_page_shows_drift_and_error_codes_in_words(client, linked):
    from phones.models import ProviderLink

    boss, _, link = linked
    client.force_login(boss)
    url = reverse("admin:phones_providerlink_change", args=[link.pk])
    page = client.get(url).content.decode()
    assert "No drift" in page
    ProviderLink.objects.filter(pk=link.pk).update(
        drift={"display_name": {"ours": "Bank", "theirs": "Other"}}, last_error_codes=["21211"]
    )
    page = client.get(url).content.decode()
    assert "display_name" in page and "Other" in page and "21211" in page
    assert "&quot;ours&quot;" not in page and "{&quot;" not in page  # not raw JSON


def test_saving_an_unchanged_link_does_not_say_changed_successfully(client, linked):
    from django.contrib.messages import get_messages

    from phones.models import SyncJob

    boss, _, link = linked
    client.force_login(boss)
    form = {"provider": "sinch", "remote_number": "", "_save": "Save"}
    for key in ("display_name", "sms_service_plan_id", "sms_campaign_id", "voice_type", "voice_target_id"):
        form[f"sinch_{key}"] = link.settings.get(key) or ""
    form["sinch_callback_url"] = ""
    for key in ("alias", "app_id", "subaccount", "compliance_application_id"):
        form[f"plivo_{key}"] = ""
    jobs, entries = SyncJob.objects.count(), AuditEntry.objects.count()
    response = client.post(reverse("admin:phones_providerlink_change", args=[link.pk]), form)
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == "Nothing was changed: the provider link is as it was."
    assert (SyncJob.objects.count(), AuditEntry.objects.count()) == (jobs, entries)
    # A real change still says so.
    response = client.post(
        reverse("admin:phones_providerlink_change", args=[link.pk]), {**form, "sinch_sms_service_plan_id": "plan-b"}
    )
    assert "was changed successfully" in [str(m) for m in get_messages(response.wsgi_request)][-1]


def test_the_job_page_shows_settings_codes_and_roles_in_words(client, linked):
    boss, _, link = linked
    job = SyncJob.objects.filter(link=link).latest("id")
    SyncJob.objects.filter(pk=job.pk).update(last_error_codes=[])
    client.force_login(boss)
    page = client.get(reverse("admin:phones_syncjob_change", args=[job.pk])).content.decode()
    # The desired settings as on the link's page, the roles as a list, no error code as "—".
    assert 'class="shown-mapping' in page and "SMS service plan ID" in page and "plan-a" in page
    assert "backoffice-operator" in page and "[&quot;backoffice-operator&quot;]" not in page
    assert '{"sms_service_plan_id"' not in page and "&quot;sms_service_plan_id&quot;" not in page
    codes = re.search(r'>Last error codes</label>.*?<div class="readonly[^"]*">(.*?)</div>', page, re.S)
    assert codes.group(1).strip() == "—"  # it was "[]"


def test_the_job_page_title_is_in_the_operators_language(client, make_operator, linked):
    _, _, link = linked
    job = SyncJob.objects.filter(link=link).latest("id")
    client.force_login(make_operator("backoffice-operator", email="leitor@bank.example", language="pt-br"))
    page = client.get(reverse("admin:phones_syncjob_change", args=[job.pk])).content.decode()
    assert f"Sincronização #{job.pk} Sinch {job.number} (Pendente)" in page
    assert f"Sync #{job.pk}" not in page and "(pending)" not in page


def test_nothing_is_one_dash_on_the_job_and_link_pages(client, linked):
    # An empty date (Django's "-") sat beside an empty list of codes ("—") on one page.
    boss, _, link = linked
    job = SyncJob.objects.filter(link=link).latest("id")
    client.force_login(boss)
    for url, label in (
        (reverse("admin:phones_syncjob_change", args=[job.pk]), "Locked until"),
        (reverse("admin:phones_providerlink_change", args=[link.pk]), "Last synced at"),
        # A read-only value its admin computes (None here): Unfold's template wrote "-" for it.
        (reverse("admin:phones_phone_change", args=[link.phone_id]), "Customer ID"),
    ):
        page = client.get(url).content.decode()
        shown = re.search(rf">{label}</label>.*?<div class=\"readonly[^\"]*\">(.*?)</div>", page, re.S)
        assert shown is not None and shown.group(1).strip() == "—", (url, shown and shown.group(1))
        readonly = re.findall(r'<div class="readonly[^"]*">\s*-\s*</div>', page)
        assert readonly == [], url


def test_the_link_form_marks_each_providers_settings_block(client, linked):
    """Each provider's settings block is marked for the page's script, which shows the chosen
    provider's only (the browser test below); the script is on the page."""
    boss, _, link = linked
    client.force_login(boss)
    html = client.get(reverse("admin:phones_providerlink_change", args=[link.pk])).content.decode()
    assert re.search(r'<fieldset class="[^"]*provider-settings provider-settings-sinch', html)
    assert re.search(r'<fieldset class="[^"]*provider-settings provider-settings-plivo', html)
    assert "provider_sync/link_settings.js" in html


# --- In Chromium: the chosen provider's settings only ------------------------------------------

from backoffice.tests.test_browser import CHROMIUM, CI, RECORD_CSP_VIOLATIONS, browser, page_for, shot  # noqa: E402,F401


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not CI, reason="Debian's Chromium is not installed")
@pytest.mark.django_db(transaction=True)
def test_a_link_page_shows_the_settings_of_its_provider_only(page_for, linked):  # noqa: F811
    """A Sinch link's page showed the Plivo block too (found in the crawler's screenshots): now the
    Sinch block only; switching the provider shows Plivo's instead; a new link's page shows the
    block of the provider its select holds. No console error (a CSP violation would be one)."""
    from playwright.sync_api import expect

    boss, _, link = linked
    page = page_for(boss.email)
    page.context.add_init_script(RECORD_CSP_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sinch, plivo = page.locator("fieldset.provider-settings-sinch"), page.locator("fieldset.provider-settings-plivo")

    page.goto(f"/admin/phones/providerlink/{link.pk}/change/")
    expect(sinch).to_be_visible()
    expect(sinch).to_contain_text("Sinch settings")
    expect(page.locator("#id_sinch_sms_service_plan_id")).to_have_value("plan-a")
    expect(plivo).to_be_hidden()
    shot(page, "link-settings-01-sinch")

    page.select_option("#id_provider", "plivo")
    expect(plivo).to_be_visible()
    expect(sinch).to_be_hidden()
    shot(page, "link-settings-02-switched-to-plivo")

    page.goto("/admin/phones/providerlink/add/")
    chosen = page.locator("#id_provider").input_value()
    expect(page.locator(f"fieldset.provider-settings-{chosen}")).to_be_visible()
    expect(page.locator("fieldset.provider-settings:visible")).to_have_count(1)
    page.select_option("#id_provider", "plivo")
    expect(plivo).to_be_visible()
    expect(sinch).to_be_hidden()
    assert errors == [], errors
    assert page.evaluate("window.__cspViolations") == []


def test_a_view_only_role_reads_the_number_at_the_provider_not_an_empty_field(client, make_operator, linked):
    """Read only, the link page showed the form's "number at the provider" field as "—" (no other
    number set) under its editing hint ("E.164; empty: the phone's"), beside a list that showed
    the number: it shows the number the provider holds."""
    _, phone, link = linked
    client.force_login(make_operator("treasury-operator", email="probe@bank.example"))
    page = client.get(reverse("admin:phones_providerlink_change", args=[link.pk])).content.decode()
    shown = re.search(r">Number at the provider</label>.*?<div class=\"readonly[^\"]*\">(.*?)</div>", page, re.S)
    assert shown is not None and shown.group(1).strip() == phone.e164
    assert "E.164; empty: the phone" not in page
