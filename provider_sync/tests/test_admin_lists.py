"""The provider link and sync job lists as operators drive them: sorted by updated time, type
(provider, reason) and status (linked), filtered by date ranges, the active filters as chips."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.actor import Actor
from phones.models import ProviderLink, SyncJob
from phones.services import phone_create
from phones.tests.test_admin_list_filters import chips
from provider_sync import links
from provider_sync.tests.conftest import BR_NUMBER, CTX

pytestmark = pytest.mark.django_db
LINKS = reverse("admin:phones_providerlink_changelist")
JOBS = reverse("admin:phones_syncjob_changelist")


@pytest.fixture
def two_links(make_operator):
    boss = make_operator("backoffice-operator", email="boss@bank.example")
    made = []
    for day, number in ((1, "91234-0001"), (20, "91234-0002")):
        phone = phone_create(actor=Actor.of(boss), context=CTX, **{**BR_NUMBER, "number": number})
        link = links.provider_link_set(
            actor=Actor.of(boss),
            context=CTX,
            account_id=phone.account_id,
            phone_id=phone.pk,
            provider="sinch",
            settings={"sms_service_plan_id": "plan-a"},
        )
        when = datetime(2026, 4, day, 12, 0, tzinfo=timezone.get_current_timezone())
        # Test data: the columns auto_now would overwrite on a save.
        ProviderLink.objects.filter(pk=link.pk).update(updated_at=when)
        SyncJob.objects.filter(link_id=link.pk).update(updated_at=when, created_at=when)
        made.append(link)
    return made


@pytest.fixture
def viewer(client, make_operator):
    client.force_login(make_operator("itibackoffice-operator", email="viewer@bank.example"))
    return client


def test_links_sorted_and_filtered_by_updated_time_with_chips(viewer, two_links):
    """Failed before: no updated column, no date filter, no chips on the link list."""
    changelist = viewer.get(LINKS).context["cl"]
    column = changelist.list_display.index("updated_at")
    oldest_first = viewer.get(f"{LINKS}?o={column}").context["cl"].result_list
    assert [link.pk for link in oldest_first] == [two_links[0].pk, two_links[1].pk]
    for field in ("provider", "linked"):  # type and status
        assert viewer.get(f"{LINKS}?o={changelist.list_display.index(field)}").status_code == 200
    dated = viewer.get(f"{LINKS}?updated_at_from=2026-04-20&updated_at_to=2026-04-20&linked__exact=1")
    assert [link.pk for link in dated.context["cl"].result_list] == [two_links[1].pk]
    assert set(chips(dated)) == {"Updated at from: 2026-04-20", "Updated at to: 2026-04-20", "Linked: Yes"}


def test_jobs_filtered_by_created_and_updated_time_with_chips(viewer, two_links):
    """Failed before: no date filter, no chips on the sync job list."""
    response = viewer.get(f"{JOBS}?created_at_to=2026-04-01&reason__exact=link")
    assert [job.link_id for job in response.context["cl"].result_list] == [two_links[0].pk]
    assert set(chips(response)) == {"Created at to: 2026-04-01", "Reason: Phone linked"}
    changelist = response.context["cl"]
    column = changelist.list_display.index("updated_at")
    newest_first = viewer.get(f"{JOBS}?o=-{column}").context["cl"].result_list
    assert [job.link_id for job in newest_first] == [two_links[1].pk, two_links[0].pk]
    junk = viewer.get(f"{JOBS}?updated_at_from=not-a-date", follow=True)
    assert len(junk.context["cl"].result_list) == 2
    assert any("updated_at_from" in str(message) for message in junk.context["messages"])


def test_the_jobs_of_one_link_say_so_even_when_there_are_none(viewer, two_links):
    """The link page's "N jobs" opens the jobs list narrowed to the link (``link__id__exact``, a
    lookup no filter of the list offers): it had no chip, so the list looked whole, and for a link
    without jobs it said "No sync jobs yet." (found in the crawler's screenshots)."""
    first, second = two_links
    narrowed = viewer.get(f"{JOBS}?link__id__exact={first.pk}&o=-1")
    assert {job.link_id for job in narrowed.context["cl"].result_list} == {first.pk}
    assert chips(narrowed) == {f"Link: {first.pk}": "?o=-1"}  # removing it keeps the sort

    SyncJob.objects.filter(link_id=second.pk).delete()
    empty = viewer.get(f"{JOBS}?link__id__exact={second.pk}").content.decode()
    assert "No sync jobs match these filters." in empty and "No sync jobs yet." not in empty
    assert "Reset filters" in empty

    # The dashboard's 30 days: a bound, and a time in the operator's zone and the admin's format.
    since = viewer.get(f"{JOBS}?finished_at__gte=2026-04-01T00:00:00-03:00")
    assert list(chips(since)) == ["Finished at from: 2026-04-01 00:00:00 (America/Sao_Paulo)"]


# --- In Chromium: a list wider than the page scrolls without hiding its last row -------------------

from backoffice.tests.test_browser import CHROMIUM, CI, browser, page_for, shot  # noqa: E402,F401


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not CI, reason="Debian's Chromium is not installed")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "pt-br"])
def test_the_horizontal_scrollbar_of_a_wide_list_leaves_its_last_row_readable(
    page_for,  # noqa: F811
    make_operator,
    two_links,
    language,
):
    """The sync job list is wider than a 1400-pixel window: its horizontal scrollbar (unfold's
    SimpleBar, drawn over the content) covered the bottom of the last row's text (found in the
    crawler's screenshots, both languages). The bar now sits below the rows."""
    boss = make_operator("backoffice-operator", email="wide@bank.example", language=language)
    page = page_for(boss.email)  # a 1400-pixel window, as the crawler's
    url = JOBS
    page.goto(url)
    table = page.locator("#result_list")
    area = page.locator("[data-simplebar]:has(#result_list)")
    scroller = area.locator(".simplebar-content-wrapper").first
    wider = page.evaluate("(el) => el.scrollWidth > el.clientWidth + 1", scroller.element_handle())
    track = area.locator(".simplebar-track.simplebar-horizontal").first
    # The test is about the bar, not a width: should the list come to fit, narrow the window.
    assert wider and track.is_visible(), f"{url} fits the window: make it narrower"
    rows = table.locator("tbody tr")
    last = rows.nth(rows.count() - 1).bounding_box()
    bar = track.bounding_box()
    shot(page, f"wide-list-{language}-{url.strip('/').replace('/', '-')}")
    assert bar["y"] >= last["y"] + last["height"] - 1, (url, bar, last)


def test_the_lists_show_the_phone_as_the_phones_list_does(viewer, two_links):
    """The link and job lists showed a job's phone as its raw E.164 ("+5511912340001"), beside the
    provider's number in the same form, where the phones list reads "+55 11 91234-0001". The
    phone is now written as there, on one line, and sorts by its number; the provider's number
    stays in E.164, the provider's own form."""
    import re

    for url in (LINKS, JOBS):
        response = viewer.get(url)
        html = response.content.decode()
        cells = re.findall(r'<t[hd] class="[^"]*field-phone_shown[^"]*"[^>]*>(.*?)</t[hd]>', html, re.S)
        shown = sorted(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells)
        assert shown == ["+55 11 91234-0001", "+55 11 91234-0002"], (url, shown)
        assert all("whitespace-nowrap" in cell for cell in cells), url
        assert html.count("+5511912340001") >= 1, url  # the provider's number, as the provider has it
        column = response.context["cl"].list_display.index("phone_shown")
        ordered = viewer.get(f"{url}?o=-{column}").context["cl"].result_list
        assert [row.phone.number for row in ordered] == ["91234-0002", "91234-0001"], url


def test_the_links_sync_status_cell_begins_with_a_capital_as_every_cell(viewer, two_links):
    """The cell read "pending since 12:00, waiting for Sinch" beside capitalised cells."""
    import re

    html = viewer.get(LINKS).content.decode()
    cells = re.findall(r'<td class="[^"]*field-state[^"]*"[^>]*>(.*?)</td>', html, re.S)
    shown = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]
    assert len(shown) == 2 and all(text.startswith("Pending since ") for text in shown), shown


def test_a_jobs_page_writes_its_phone_as_the_lists_do_linked_to_its_page(viewer, two_links):
    """Noticed in the last notes: the job's page named its phone by its raw E.164, in Django's
    link to the related row, where every list writes "+55 11 91234-0001"."""
    import re

    job = SyncJob.objects.filter(link=two_links[0]).latest("pk")
    html = viewer.get(reverse("admin:phones_syncjob_change", args=[job.pk])).content.decode()
    phone_url = reverse("admin:phones_phone_change", args=[job.phone_id])
    (shown,) = re.findall(rf'<a [^>]*href="{phone_url}"[^>]*>(.*?)</a>', html, re.S)
    assert re.sub(r"<[^>]+>", "", shown).strip() == "+55 11 91234-0001", shown
    assert ">+5511912340001</a>" not in html  # the link, "Sinch +5511912340001", keeps the provider's form


def test_the_jobs_list_speaks_of_a_job_in_the_feminine(client, make_operator, two_links):
    """A job is a "tarefa": its list said "Criado em", "Atualizado em" beside "Concluída em"."""
    client.force_login(make_operator("itibackoffice-operator", email="leitora@bank.example", language="pt-br"))
    page = client.get(JOBS).content.decode()
    assert "Criada em" in page and "Atualizada em" in page
    assert "Criado em" not in page and "Atualizado em" not in page


def test_a_date_chip_reads_as_portuguese(client, make_operator, two_links):
    """The chip of a date range's start read "Concluída em (de): ..." ("from" word for word)."""
    from phones.tests.test_admin_list_filters import chips

    client.force_login(make_operator("itibackoffice-operator", email="leitor@bank.example", language="pt-br"))
    shown = chips(client.get(f"{JOBS}?created_at_from=2026-04-01&created_at_to=2026-04-30"))
    assert set(shown) == {"Criada em (a partir de): 2026-04-01", "Criada em (até): 2026-04-30"}
