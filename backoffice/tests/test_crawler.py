"""A crawler in a real browser: for every role, open the dashboard and follow every admin link it
can see (breadth first, one page per URL shape), then submit every add and change form it reached
empty and then valid, then run every list action on a selection (the first row). It fails on any
5xx, any browser console error or uncaught exception, any link that leads to a 403 for that role,
any enabled input whose box is not visible (no border and no background), and a valid form the
page refuses. Each role crawls in Portuguese (the operators' default) and again in English, there
only the dashboard and the pages it links to (the sidebar's). A screenshot of every page lands in
``test-output/screenshots/<language>/<role>/`` for review.

Actions: a confirmation page is left by its "No, go back" (which must lead back to a working
list), then, for the actions harmless on test data (``CONFIRMED_ACTIONS``), confirmed. Deleting is
never confirmed.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from backoffice.tests.test_browser import CHROMIUM, CI, SCREENSHOTS, browser, enrolled_device  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not CI, reason="Debian's Chromium is not installed"),
]

ROLES = [
    "crm-operator",
    "backoffice-operator",
    "itibackoffice-operator",
    "itibackoffice-master",
    "itinivel1-operator",
    "inspetoria-operator",
    "treasury-operator",
    "geroficios-operator",
    "superuser",
]
PAGES_PER_ROLE = 30
LANGUAGES = ["pt-br", "en"]
# Links a crawler must not follow: they sign out, download, or start a destructive flow.
SKIP = re.compile(r"/logout/|/delete/|/export|/password/|/number-preview/|/sync-state/|\.csv|/jsi18n/|/r/\d+/|/mfa")
ID = re.compile(r"/\d+/")
FORM_PAGE = re.compile(r"/admin/(\w+)/(\w+)/(add|<id>/change)/$")
LIST_PAGE = re.compile(r"^/admin/(\w+)/(\w+)/$")

# Actions whose confirmation the crawler also gives: harmless on the crawl's test data (a re-sync
# queues a job no worker runs, an export downloads, a test phone is inactivated last of all).
CONFIRMED_ACTIONS = {"resync_phones", "resync_links", "export_selected_csv", "inactivate_selected", "revoke_keys"}
RUN_LAST = ("inactivate_selected",)  # it changes the first row: after every other action
# Forms and actions need the page's scripts (deferred ones run before this), not its fonts and
# images: the screenshots of the page visits wait for those.
READY = "domcontentloaded"
# In either language: the whole crawl (actions included) runs in Portuguese.
GO_BACK = re.compile(r"No, (go|take me) back|Não, voltar")
CONFIRM = re.compile(r"Yes, |Sim, ")

INVISIBLE_INPUTS = """() => {
    // A box shows through the element's own border or background, or a styled wrapper around it
    // (the admin theme's search field draws its box on the wrapper): up to two levels up.
    const boxed = (node) => {
        const style = getComputedStyle(node);
        const border = ['Top', 'Right', 'Bottom', 'Left'].some(
            side => parseFloat(style[`border${side}Width`]) > 0 && style[`border${side}Style`] !== 'none');
        const background = style.backgroundColor !== 'rgba(0, 0, 0, 0)' && style.backgroundColor !== 'transparent';
        return border || background || style.boxShadow.includes('rgb');
    };
    return [...document.querySelectorAll('input, select, textarea')].filter(el => {
        if (el.disabled || ['hidden', 'checkbox', 'radio'].includes(el.type)) return false;
        const style = getComputedStyle(el);
        if (style.display === 'none' || style.visibility === 'hidden' || el.offsetParent === null) return false;
        return ![el, el.parentElement, el.parentElement && el.parentElement.parentElement]
            .some(node => node && boxed(node));
    }).map(el => el.name || el.id);
}"""

# Every enabled, visible text-like field of the page's form emptied (selects, checkboxes and
# hidden fields such as the phone's version stay as they are).
EMPTY_THE_FORM = """() => {
    const form = document.querySelector('form[method=post][id$=_form]');
    if (!form) return 0;
    let emptied = 0;
    form.querySelectorAll('input, textarea').forEach(el => {
        if (el.disabled || el.readOnly || el.offsetParent === null) return;
        if (!['text', 'number', 'email', 'url', 'tel', 'password', 'search', 'textarea'].includes(el.type)) return;
        el.value = '';
        emptied += 1;
    });
    return emptied;
}"""


def valid_values(world: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """A valid submission per form: (model page, add or change) -> field selector -> value (a
    select's option value for a select). A change form not listed is submitted as it loads."""
    return {
        ("phones/phone", "add"): {
            "#id_account_id": "4321",
            "#id_customer_id": "77",
            "#id_number": "91239-4444",
            "#id_type": "MOBILE",
            "#id_area_code": "11",
            "#id_country_code": "55",
        },
        ("phones/phone", "change"): {"#id_extension": "12"},
        ("phones/providerlink", "add"): {
            "#id_phone": str(world["unlinked_phone"]),
            "#id_provider": "sinch",
            "#id_sinch_sms_service_plan_id": "plan-crawl",
        },
        ("phones/providerlink", "change"): {"#id_sinch_sms_service_plan_id": "plan-b"},
        ("backoffice/user", "add"): {
            "#id_email": "new.operator@bank.example",
            "#id_full_name": "New Operator",
            "#id_password1": "Crawled-Passphrase-2026!",
            "#id_password2": "Crawled-Passphrase-2026!",
        },
        ("backoffice/user", "change"): {"#id_full_name": "Renamed By The Crawler"},
        ("auth/group", "add"): {"#id_name": "crawler-role"},
    }


def _shape(path: str) -> str:
    return ID.sub("/<id>/", path.split("?")[0]) + ("?" if "?" in path else "")


@dataclass
class Crawl:
    """What one role's crawl found and what went wrong."""

    role: str
    problems: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)  # add/change pages with a save button
    actions: list[tuple[str, str]] = field(default_factory=list)  # (list page, action)
    visited: int = 0
    submitted: int = 0
    ran: int = 0


@pytest.fixture
def world(make_operator, monkeypatch):
    from backoffice.actor import Actor
    from backoffice.service_accounts import api_key_issue, service_account_create
    from phones import outbox
    from phones.tests.factories import PhoneFactory
    from provider_sync import links
    from provider_sync.tests.conftest import CTX

    # No worker runs here: what would go to the broker stays in the test.
    monkeypatch.setattr(outbox, "queue_delivery", lambda job_id, countdown=None: True)
    monkeypatch.setattr(outbox, "queue_deliveries", lambda job_ids: len(job_ids))
    owner = make_operator("backoffice-operator", email="owner@bank.example")
    phones = [PhoneFactory(actor=owner, account_id=4321, number=f"9123{i}-5678") for i in range(3)]
    links.provider_link_set(
        actor=Actor.of(owner),
        context=CTX,
        account_id=phones[0].account_id,
        phone_id=phones[0].pk,
        provider="sinch",
        settings={"sms_service_plan_id": "plan-a"},
    )
    robot = service_account_create(email="robot@bank.example", roles=["treasury-operator"])
    api_key_issue(operator=robot, name="crawler key")
    return {"phones": [phone.pk for phone in phones], "unlinked_phone": phones[1].pk}


def sign_in(context: Any, email: str, shots: Any) -> Any:
    from backoffice.tests.factories import PASSWORD
    from backoffice.tests.otp import code_of

    page = context.new_page()
    # Roles that must use MFA sign in with their authenticator's code, as a person would.
    device = enrolled_device(email)
    page.goto("/admin/login/")
    page.screenshot(path=str(shots / "00-sign-in.png"))
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    if device is not None:
        page.wait_for_url(re.compile(r".*/admin/mfa/verify/$"))
        page.screenshot(path=str(shots / "00-mfa-verify.png"))
        page.fill("#id_otp", code_of(device, steps_ahead=1))
        page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    return page


def visit_pages(page: Any, crawl: Crawl, shots: Any, deepest: int = PAGES_PER_ROLE) -> None:
    """Breadth first from the dashboard: every admin link, one page per URL shape, up to
    ``deepest`` links away; notes the forms and list actions met on the way."""
    queue: deque[tuple[str, str, int]] = deque([("/admin/", "(start)", 0)])
    seen: set[str] = set()
    while queue and crawl.visited < PAGES_PER_ROLE:
        path, referrer, depth = queue.popleft()
        if _shape(path) in seen:
            continue
        seen.add(_shape(path))
        response = page.goto(path)
        crawl.visited += 1
        status = response.status if response else 0
        if status >= 500:
            crawl.problems.append(f"{status} at {path} (linked from {referrer})")
            continue
        if status == 403:
            crawl.problems.append(f"403 at {path}: linked for {crawl.role} from {referrer}")
            continue
        page.screenshot(path=str(shots / f"{crawl.visited:02d}{re.sub(r'[^a-z0-9]+', '-', path.lower())[:80]}.png"))
        for name in page.evaluate(INVISIBLE_INPUTS):
            crawl.problems.append(f"input {name!r} without a visible box at {path}")
        if FORM_PAGE.search(_shape(path)) and page.locator("[name=_save]").count():
            crawl.forms.append(path)
        if LIST_PAGE.match(path.split("?")[0]) and page.locator("select[name=action]").count():
            options = page.eval_on_selector_all("select[name=action] option", "os => os.map(o => o.value)")
            for action in options:
                if action and (path.split("?")[0], action) not in crawl.actions:
                    crawl.actions.append((path.split("?")[0], action))
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            if (
                depth < deepest
                and href
                and href.startswith("/admin/")
                and not SKIP.search(href)
                and _shape(href) not in seen
            ):
                queue.append((href, path, depth + 1))


def _post_and_check(page: Any, crawl: Crawl, click: Any, what: str) -> int:
    """Click what posts, wait for the answer and what it leads to; a 5xx is a problem."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        click()
    status = answer.value.status
    page.wait_for_load_state(READY)
    if status >= 500:
        crawl.problems.append(f"{status} on {what}")
    return status


def _fill(page: Any, values: dict[str, str]) -> None:
    for selector, value in values.items():
        if page.locator(selector).evaluate("el => el.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def _refused(page: Any) -> str:
    shown = page.locator(".errornote, .errorlist")
    return " / ".join(shown.all_inner_texts()) if shown.count() else ""


def submit_forms(page: Any, crawl: Crawl, valid: dict[tuple[str, str], dict[str, str]]) -> None:
    """Each form reached, saved empty (refused or saved, never a 5xx) and with valid values (the
    page must take them: no error shown). An add form is saved empty first: it comes back refused,
    as posted, and is filled in there (its table names every field it needs). A change form is
    saved valid first with "Save and continue editing", which opens it again: then emptied."""
    for path in crawl.forms:
        app, model, kind = FORM_PAGE.search(_shape(path)).groups()
        values = valid.get((f"{app}/{model}", "add" if kind == "add" else "change"), {})
        page.goto(path, wait_until=READY)
        crawl.submitted += 2
        if kind == "add":
            page.evaluate(EMPTY_THE_FORM)
            status = _post_and_check(page, crawl, lambda: page.click("[name=_save]"), f"{path} saved empty")
            if status != 200 or not page.locator("[name=_save]").count():
                page.goto(path, wait_until=READY)
            _fill(page, values)
            status = _post_and_check(page, crawl, lambda: page.click("[name=_save]"), f"{path} saved valid")
            if status < 500 and (refused := _refused(page)):
                crawl.problems.append(f"{path} refused valid values: {refused}")
            continue
        _fill(page, values)
        keep_open = "[name=_continue]" if page.locator("[name=_continue]").count() else "[name=_save]"
        status = _post_and_check(page, crawl, lambda button=keep_open: page.click(button), f"{path} saved valid")
        if status < 500 and (refused := _refused(page)):
            crawl.problems.append(f"{path} refused valid values: {refused}")
        if urlsplit(page.url).path != urlsplit(path).path or not page.locator("[name=_save]").count():
            page.goto(path, wait_until=READY)
        page.evaluate(EMPTY_THE_FORM)
        _post_and_check(page, crawl, lambda: page.click("[name=_save]"), f"{path} saved empty")


def run_actions(page: Any, crawl: Crawl) -> None:
    """Each list action on the first row: a confirmation page left by "No, go back" (back on a
    working list), then confirmed where harmless; an action without one runs once."""
    ordered = sorted(crawl.actions, key=lambda item: item[1] in RUN_LAST)
    for path, action in ordered:

        def choose(path: str = path, action: str = action) -> bool:
            # An action, its "No, go back" and a download end on the list already: no new load.
            if urlsplit(page.url).path != path or page.locator("#inactivate-confirmation").count():
                page.goto(path, wait_until=READY)
            rows = page.locator("input.action-select")
            if not rows.count():
                return False
            rows.first.check()
            page.select_option("select[name=action]", action)
            return True

        if not choose():
            continue
        what = f"{action} on {path}"
        status = _post_and_check(page, crawl, lambda: page.click("button[name=index]"), what)
        crawl.ran += 1
        back = page.get_by_role("link", name=GO_BACK)
        if status >= 500 or not back.count():
            continue  # done (or refused loudly); no confirmation asked
        back.first.click()
        page.wait_for_load_state(READY)
        if not page.url.split("?")[0].endswith(path):
            crawl.problems.append(f'"No, go back" of {what} led to {page.url}')
        if action in CONFIRMED_ACTIONS and choose():
            _post_and_check(page, crawl, lambda: page.click("button[name=index]"), what)
            _post_and_check(
                page, crawl, lambda: page.get_by_role("button", name=CONFIRM).first.click(), f"{what}, confirmed"
            )


def crawl_role(
    browser: Any,  # noqa: F811
    base_url: str,
    role: str,
    email: str,
    valid: dict[tuple[str, str], dict[str, str]],
    language: str = LANGUAGES[0],
) -> Crawl:
    """One role's crawl in a browser context of its own, in ``language`` (the operator's and the
    browser's): in the first language the whole crawl (pages, then forms, then actions); in the
    others the dashboard and the pages it links to (the sidebar's), which keeps the run's time."""
    crawl = Crawl(role=role)
    locale = "pt-BR" if language == "pt-br" else "en-US"  # the sign-in page follows the browser
    options: dict[str, Any] = {"viewport": {"width": 1400, "height": 1000}, "base_url": base_url, "locale": locale}
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    try:
        shots = SCREENSHOTS / language / role
        shots.mkdir(parents=True, exist_ok=True)
        for old in shots.glob("*.png"):  # this run's pages only: ids differ from run to run
            old.unlink()
        page = sign_in(context, email, shots)
        page.on(
            "console",
            lambda msg: msg.type == "error" and crawl.problems.append(f"console error on {page.url}: {msg.text}"),
        )
        page.on("pageerror", lambda exc: crawl.problems.append(f"uncaught exception on {page.url}: {exc}"))
        if language != LANGUAGES[0]:
            visit_pages(page, crawl, shots, deepest=1)
            return crawl
        visit_pages(page, crawl, shots)
        submit_forms(page, crawl, valid)
        run_actions(page, crawl)
    finally:
        context.close()
    return crawl


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_form_and_action_a_role_can_reach_works(browser, live_server, make_operator, world, role, language):  # noqa: F811
    email = f"crawler.{role}@bank.example"
    if role == "superuser":
        make_operator(is_superuser=True, email=email, language=language)
    else:
        make_operator(role, email=email, language=language)
    crawl = crawl_role(browser, live_server.url, role, email, valid_values(world), language)
    print(f"{role} ({language}): {crawl.visited} pages, {crawl.submitted} form submissions, {crawl.ran} actions")
    assert crawl.visited > 1, f"{role} reached nothing past the dashboard"
    assert not crawl.problems, "\n".join(sorted(set(crawl.problems)))
