"""A crawler in a real browser: for every role, open the dashboard and follow every admin link it
can see (breadth first, one page per URL shape), and fail on any 5xx, any browser console error
or uncaught exception, any link that leads to a 403 for that role, and any enabled input whose
box is not visible (no border and no background). Each role crawls in Portuguese (the operators'
default) and again in English, there only the pages the dashboard links to (the sidebar's). A
screenshot of every page lands in ``test-output/screenshots/<language>/<role>/`` for review.
"""

from __future__ import annotations

import re
from collections import deque

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
SKIP = re.compile(r"/logout/|/delete/|/export|/password/|/number-preview/|\.csv|/jsi18n/|/r/\d+/|/mfa")
ID = re.compile(r"/\d+/")

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


def _shape(path: str) -> str:
    return ID.sub("/<id>/", path.split("?")[0]) + ("?" if "?" in path else "")


@pytest.fixture
def world(make_operator):
    from phones.tests.factories import PhoneFactory

    owner = make_operator("backoffice-operator", email="owner@bank.example")
    phones = [PhoneFactory(actor=owner, account_id=4321, number=f"9123{i}-5678") for i in range(3)]
    return phones


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_can_reach_works(browser, live_server, make_operator, world, role, language):  # noqa: F811
    from backoffice.tests.factories import PASSWORD
    from backoffice.tests.otp import code_of

    email = f"crawler.{role}@bank.example"
    if role == "superuser":
        make_operator(is_superuser=True, email=email, language=language)
    else:
        make_operator(role, email=email, language=language)
    # The browser speaks the operator's language too: the sign-in page follows it.
    locale = "pt-BR" if language == "pt-br" else "en-US"
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_server.url, locale=locale)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console error on {page.url}: {msg.text}"))
    page.on("pageerror", lambda exc: problems.append(f"uncaught exception on {page.url}: {exc}"))
    # Roles that must use MFA sign in with their authenticator's code, as a person would.
    device = enrolled_device(email)
    shots = SCREENSHOTS / language / role
    shots.mkdir(parents=True, exist_ok=True)
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

    # The second language: the dashboard and the pages it links to (keeps the run's time).
    deepest = 1 if language != LANGUAGES[0] else PAGES_PER_ROLE
    queue: deque[tuple[str, str, int]] = deque([("/admin/", "(start)", 0)])
    seen: set[str] = set()
    visited = 0
    while queue and visited < PAGES_PER_ROLE:
        path, referrer, depth = queue.popleft()
        if _shape(path) in seen:
            continue
        seen.add(_shape(path))
        response = page.goto(path)
        visited += 1
        status = response.status if response else 0
        if status >= 500:
            problems.append(f"{status} at {path} (linked from {referrer})")
            continue
        if status == 403:
            problems.append(f"403 at {path}: linked for {role} from {referrer}")
            continue
        page.screenshot(path=str(shots / f"{visited:02d}{re.sub(r'[^a-z0-9]+', '-', path.lower())[:80]}.png"))
        for name in page.evaluate(INVISIBLE_INPUTS):
            problems.append(f"input {name!r} without a visible box at {path}")
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            if (
                depth < deepest
                and href
                and href.startswith("/admin/")
                and not SKIP.search(href)
                and _shape(href) not in seen
            ):
                queue.append((href, path, depth + 1))
    context.close()
    assert visited > 1, f"{role} reached nothing past the dashboard"
    assert not problems, "\n".join(sorted(set(problems)))
