"""Operators' journeys in a real browser (Playwright driving Debian's Chromium).

Each step asserts what a person sees. Screenshots of the key pages land in
``test-output/screenshots/`` for review.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CI = os.environ.get("CI", "").lower() == "true"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not CI, reason="Debian's Chromium is not installed"),
]

EMAIL_CRM = "carla.crm@bank.example"
EMAIL_TREASURY = "tomas.treasury@bank.example"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the fixtures make are
    # still plain synchronous calls. Scoped to these tests: subprocesses elsewhere must not inherit it.
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


@pytest.fixture
def page_for(browser, live_server):
    contexts = []

    def open_page(email: str):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_server.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        # Operators of these roles must use MFA: each gets an authenticator (a fresh one per sign-in:
        # a code is taken once) and types its code after the password, as a person would.
        device = enrolled_device(email)
        page.goto("/admin/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        if device is not None:
            page.wait_for_url(re.compile(r".*/admin/mfa/verify/$"))
            page.fill("#id_otp", code_of(device, steps_ahead=1))
            page.click("button[type=submit]")
        try:
            page.wait_for_url(re.compile(r".*/admin/$"))
        except Exception:
            shot(page, "login-failed")
            print("URL-AFTER-LOGIN", page.url)
            raise
        return page

    from backoffice.tests.factories import PASSWORD
    from backoffice.tests.otp import code_of

    yield open_page
    for context in contexts:
        context.close()


def enrolled_device(email: str):
    """An enrolled authenticator for this operator when its roles require MFA, else ``None``."""
    from backoffice import mfa
    from backoffice.models import User
    from backoffice.tests.otp import enrolled

    user = User.objects.get(email=email)
    return enrolled(user)[0] if mfa.mfa_required(user) else None


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def fill_phone(page, *, number: str, account: str | None = "32422") -> None:
    if account is not None:
        page.fill("#id_account_id", account)
        page.fill("#id_customer_id", "42422")
    page.fill("#id_number", number)
    page.select_option("#id_type", "MOBILE")
    page.fill("#id_area_code", "11")
    page.fill("#id_country_code", "55")


@pytest.mark.django_db(transaction=True)
def test_crm_operator_creates_edits_inactivates_and_finds_the_audit_trail(page_for, make_operator):
    from playwright.sync_api import expect

    make_operator("crm-operator", email=EMAIL_CRM)
    page = page_for(EMAIL_CRM)
    expect(page.locator("body")).to_contain_text("Phone backoffice")
    expect(page.locator("#dashboard")).to_contain_text("Active phones")
    shot(page, "01-dashboard")

    # Create.
    page.get_by_role("link", name="Add phone").click()
    expect(page).to_have_title(re.compile("Add phone"))
    expect(page.locator("#id_account_id")).to_be_visible()
    fill_phone(page, number="91234-5678")
    shot(page, "02-phone-add-form")
    page.click("button[name=_save]")
    expect(page.locator("body")).to_contain_text("was added successfully")
    expect(page.locator("#result_list")).to_contain_text("+55 11 91234-5678")
    expect(page.locator("#result_list")).to_contain_text("+5511912345678")
    shot(page, "03-phones-list")

    # A duplicate (same digits, other formatting) is refused with the contract's words.
    page.goto("/admin/phones/phone/add/")
    fill_phone(page, number="9.1234.5678")
    page.click("button[name=_save]")
    expect(page.locator("body")).to_contain_text("Phone number already exists")
    shot(page, "04-duplicate-rejected")

    # Edit.
    page.goto("/admin/phones/phone/")
    page.click("#result_list >> text=+55 11 91234-5678")
    page.fill("#id_number", "98888-7777")
    page.click("button[name=_save]")
    expect(page.locator("body")).to_contain_text("was changed successfully")
    expect(page.locator("#result_list")).to_contain_text("+55 11 98888-7777")

    # Inactivate through the bulk action and its confirmation page.
    page.check("#result_list input.action-select")
    page.select_option("select[name=action]", "inactivate_selected")
    page.click("button[name=index]")
    expect(page.locator("#inactivate-confirmation")).to_contain_text("Inactivate 1 phone?")
    shot(page, "05-inactivate-confirmation")
    page.click("text=Yes, inactivate")
    expect(page.locator("body")).to_contain_text("Inactivated 1 phone.")

    # The phone page is now read-only and says why.
    page.click("#result_list >> text=+55 11 98888-7777")
    expect(page.locator("#inactive-notice")).to_contain_text("Can't update an inactive phone number")
    expect(page.locator("#id_number")).to_have_count(0)
    expect(page.locator("button[name=_save]")).to_have_count(0)
    expect(page.locator("#phone-history")).to_contain_text("Phone changed")
    shot(page, "06-phone-read-only")

    # The three audit entries, all by this operator, from the CRM.
    page.click("text=Open in the audit log")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#result_list")).to_contain_text(EMAIL_CRM)
    expect(page.locator("#result_list")).to_contain_text("Phone created")
    expect(rows.filter(has_text="Phone changed")).to_have_count(2)
    shot(page, "07-audit-list")
    rows.first.locator("a").first.click()
    expect(page.locator("body")).to_contain_text('"active": false')
    expect(page.locator(".audit-changes")).to_contain_text("Active")  # the field's label (audit.presentation)
    shot(page, "08-audit-detail")


@pytest.mark.django_db(transaction=True)
def test_treasury_operator_finds_no_way_to_change_anything(page_for, make_operator):
    from playwright.sync_api import expect

    from phones.tests.factories import PhoneFactory

    PhoneFactory(actor=make_operator("crm-operator", email=EMAIL_CRM), number="91234-5678", account_id=7)
    make_operator("treasury-operator", email=EMAIL_TREASURY)
    page = page_for(EMAIL_TREASURY)
    expect(page.locator("body")).to_contain_text("Phones")
    for hidden in ("Add phone", "Audit log", "Operators"):
        expect(page.get_by_role("link", name=hidden)).to_have_count(0)

    page.goto("/admin/phones/phone/")
    expect(page.locator("#result_list")).to_contain_text("+55 11 91234-5678")
    expect(page.locator("a[href$='/admin/phones/phone/add/']")).to_have_count(0)
    expect(page.locator("select[name=action] option[value=inactivate_selected]")).to_have_count(0)
    shot(page, "09-treasury-phones-list")

    page.click("#result_list >> text=+55 11 91234-5678")
    expect(page.locator("#id_number")).to_have_count(0)
    expect(page.locator("button[name=_save]")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("91234-5678")
    shot(page, "10-treasury-phone-view")

    for url in ("/admin/phones/phone/add/", "/admin/audit/auditentry/", "/admin/backoffice/user/"):
        response = page.goto(url)
        assert response.status == 403, url


INVISIBLE_INPUTS = """
() => [...document.querySelectorAll(
    'form input:not([type=hidden]):not([disabled]), form select:not([disabled]), form textarea:not([disabled])'
  )]
  .filter(el => {
    const style = getComputedStyle(el);
    const border = ['Top', 'Right', 'Bottom', 'Left'].some(side => parseFloat(style['border' + side + 'Width']) > 0
      && style['border' + side + 'Style'] !== 'none');
    const background = style.backgroundColor !== 'rgba(0, 0, 0, 0)' && style.backgroundColor !== 'transparent';
    return el.type !== 'checkbox' && !border && !background;
  })
  .map(el => el.name)
"""


@pytest.mark.django_db(transaction=True)
def test_every_input_of_the_phone_forms_shows_its_box(page_for, make_operator):
    """The phone add and edit forms' inputs had no border and no background: editable fields
    looked like read-only ones."""
    from audit.models import Origin
    from audit.services import AuditContext
    from backoffice.actor import Actor
    from phones.services import phone_create

    operator = make_operator("crm-operator", email=EMAIL_CRM)
    phone = phone_create(
        actor=Actor.of(operator),
        context=AuditContext(origin=Origin.COMMAND),
        account_id=501,
        number="91234-5678",
        type="MOBILE",
    )
    page = page_for(EMAIL_CRM)
    for url, name in (
        ("/admin/phones/phone/add/", "phone-add"),
        (f"/admin/phones/phone/{phone.pk}/change/", "phone-change"),
    ):
        page.goto(url)
        shot(page, f"inputs-{name}")
        assert page.evaluate(INVISIBLE_INPUTS) == [], name


# Recorded in the page before any of its scripts run: every Content-Security-Policy violation.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', event => window.__cspViolations.push(
  `${event.violatedDirective} blocked ${event.blockedURI || 'inline'} at ${event.sourceFile}:${event.lineNumber}`
));
"""


@pytest.mark.django_db(transaction=True)
def test_the_admin_and_the_api_docs_work_under_the_content_security_policy(page_for, make_operator):
    """Every page an operator opens runs with the policy on: no console error, no violation, and
    what the theme's scripts (Alpine.js, Chart.js) and Swagger UI draw is there. (Without
    'unsafe-eval' Alpine cannot even run the sign-in form.)"""
    from playwright.sync_api import expect

    from audit.models import Origin
    from audit.services import AuditContext
    from backoffice.actor import Actor
    from phones.services import phone_create

    operator = make_operator("backoffice-operator", email="bianca.backoffice@bank.example")
    phone = phone_create(
        actor=Actor.of(operator),
        context=AuditContext(origin=Origin.COMMAND),
        account_id=502,
        number="91234-5678",
        type="MOBILE",
    )
    page = page_for(operator.email)
    page.context.add_init_script(RECORD_CSP_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))

    def visit(url: str, name: str) -> None:
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        assert "script-src 'self' 'unsafe-eval'" in response.headers["content-security-policy"], url
        page.wait_for_load_state("networkidle")
        shot(page, f"csp-{name}")
        violations = page.evaluate("window.__cspViolations")
        assert (violations, errors) == ([], []), url

    visit("/admin/", "dashboard")
    expect(page.locator("#dashboard")).to_contain_text("Active phones")
    # Alpine.js runs: the sidebar's toggles are live (x-data evaluated, x-cloak gone).
    assert page.evaluate("typeof window.Alpine === 'object' && !document.querySelector('[x-cloak]')")
    visit("/admin/phones/phone/", "phone-list")
    expect(page.locator("#result_list")).to_contain_text("+55912345678")
    visit(f"/admin/phones/phone/{phone.pk}/change/", "phone-change")
    expect(page.locator("#id_number")).to_have_value("91234-5678")
    visit("/admin/audit/auditentry/", "audit-list")
    expect(page.locator("#result_list")).to_contain_text("Phone created")
    visit("/api/docs/", "api-docs")
    # Swagger UI drew the operations from /api/schema/, fetched with the operator's session.
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.locator(".swagger-ui")).to_contain_text("/accounts/v1/accounts/{accountId}/phones")
    assert (page.evaluate("window.__cspViolations"), errors) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_two_operators_edit_one_phone_and_the_second_is_shown_the_first_ones_change(page_for, make_operator):
    """Before: the second save silently reverted the first one's change, audited in the second
    operator's name. Now the second is refused, sees what changed, by whom and when, and nothing
    of the first change is lost."""
    from playwright.sync_api import expect

    from audit.models import AuditEntry, AuditEvent, Origin
    from audit.services import AuditContext
    from backoffice.actor import Actor
    from phones.models import Phone
    from phones.services import phone_create

    carla = make_operator("crm-operator", email=EMAIL_CRM)
    bianca = make_operator("backoffice-operator", email="bianca.backoffice@bank.example")
    phone = phone_create(
        actor=Actor.of(carla),
        context=AuditContext(origin=Origin.COMMAND),
        account_id=503,
        number="91234-5678",
        type="MOBILE",
        area_code=11,
    )
    url = f"/admin/phones/phone/{phone.pk}/change/"
    first, second = page_for(EMAIL_CRM), page_for(bianca.email)
    first.goto(url)
    second.goto(url)

    first.fill("#id_number", "98888-7777")
    first.click("button[name=_save]")
    expect(first.locator("body")).to_contain_text("was changed successfully")

    second.fill("#id_extension", "55")
    second.click("button[name=_save]")
    conflict = second.locator("#phone-conflict")
    expect(conflict).to_contain_text("This phone was changed after you opened this page. Nothing was saved.")
    expect(conflict).to_contain_text(f"{EMAIL_CRM} (CRM): number: 91234-5678 → 98888-7777")
    expect(second.locator("#id_extension")).to_have_value("55")  # her entry is kept for her to decide
    shot(second, "11-edit-conflict")

    stored = Phone.objects.get(pk=phone.pk)
    assert (stored.number, stored.extension) == ("98888-7777", None)
    changes = AuditEntry.objects.filter(phone_id=phone.pk, event=AuditEvent.PHONE_CHANGE)
    assert [(entry.operator_email, entry.changes) for entry in changes] == [
        (EMAIL_CRM, {"number": ["91234-5678", "98888-7777"]})
    ]


@pytest.mark.django_db(transaction=True)
def test_the_number_field_helps_and_inactivation_is_confirmed(page_for, make_operator):
    """Focus on the number, its E.164 form and libphonenumber's hint as it is typed (under the
    Content-Security-Policy, no violation), and unticking Active asks for a confirmation and ends
    with one message."""
    from playwright.sync_api import expect

    from phones.models import Phone

    make_operator("crm-operator", email=EMAIL_CRM)
    page = page_for(EMAIL_CRM)
    page.context.add_init_script(RECORD_CSP_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))

    page.goto("/admin/phones/phone/add/")
    # The number is the first field of the form: Django's add page focuses it (a script it loads
    # asynchronously), the change page by the field's own autofocus.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_number'")
    preview = page.locator("#number-preview")
    page.fill("#id_account_id", "504")
    page.select_option("#id_type", "MOBILE")
    page.fill("#id_area_code", "11")
    page.fill("#id_country_code", "55")
    page.fill("#id_number", "91234-5678")
    expect(preview).to_contain_text("+55 11 91234-5678 (+5511912345678)")
    expect(preview).to_contain_text("Valid BR mobile number.")
    page.fill("#id_number", "3333-4444")
    expect(preview).to_contain_text("Valid BR fixed line number. The type says Mobile.")
    page.fill("#id_number", "11")
    page.fill("#id_area_code", "")
    expect(preview).to_contain_text("Not a possible number for country code +55")
    shot(page, "12-number-preview")
    page.fill("#id_area_code", "11")
    page.fill("#id_number", "91234-5678")
    page.click("button[name=_continue]")
    expect(page.locator("body")).to_contain_text("was added successfully")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_number'")  # autofocus

    # The confirmation shows once Active is unticked, and is required then.
    confirm = page.locator("#id_confirm_inactivation")
    expect(confirm).to_be_hidden()
    page.uncheck("#id_active")
    expect(confirm).to_be_visible()
    page.click("button[name=_continue]")
    expect(page.locator("body")).to_contain_text("I understand this cannot be undone” to inactivate")
    assert Phone.objects.get(account_id=504).active is True
    page.uncheck("#id_active")
    page.check("#id_confirm_inactivation")
    shot(page, "13-inactivation-confirmation")
    page.click("button[name=_continue]")
    expect(page).to_have_url(re.compile(r".*/admin/phones/phone/$"))
    expect(page.locator("body")).to_contain_text("The phone +55 11 91234-5678 was inactivated")
    expect(page.locator("body")).not_to_contain_text("was changed successfully")
    assert Phone.objects.get(account_id=504).active is False
    assert (page.evaluate("window.__cspViolations"), errors) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_an_operator_who_must_use_mfa_enrols_after_the_password(browser, live_server, make_operator):
    """The enrolment pages keep the theme and run under the Content-Security-Policy: the QR code
    is drawn inline (no script, nothing fetched); the key typed into an app gives the code that
    confirms it; the recovery codes are shown once, then the dashboard."""
    from playwright.sync_api import expect

    from backoffice.tests.factories import PASSWORD
    from backoffice.tests.otp import code_for_secret

    operator = make_operator("crm-operator", email=EMAIL_CRM)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    try:
        page = context.new_page()
        page.goto("/admin/login/")
        page.fill("#id_username", operator.email)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/admin/mfa/enrol/$"))
        expect(page.locator("#mfa-qr svg")).to_be_visible()
        secret = page.locator("#mfa-secret").inner_text()
        assert page.evaluate(INVISIBLE_INPUTS) == []  # the code's field has the theme's look
        shot(page, "14-mfa-enrolment")
        page.fill("#id_otp", code_for_secret(secret))
        page.click("button[type=submit]")
        codes = page.locator("#mfa-recovery-codes li")
        expect(codes).to_have_count(10)
        shot(page, "15-mfa-recovery-codes")
        page.get_by_role("link", name=re.compile("continue")).click()
        page.wait_for_url(re.compile(r".*/admin/$"))
        expect(page.locator("#dashboard")).to_contain_text("Active phones")
        assert page.evaluate("window.__cspViolations") == []
    finally:
        context.close()
