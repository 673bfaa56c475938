"""The phone list as operators drive it: sorted by type, status and updated time, filtered by an
updated-time range, with the filters it applies shown as chips, each removable on its own."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse

from phones.models import Phone, PhoneType
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db
LIST = reverse("admin:phones_phone_changelist")


@pytest.fixture
def viewer(client, make_operator):
    client.force_login(make_operator("treasury-operator", email="viewer@bank.example"))
    return client


def sort_param(changelist, field: str, descending: bool = False) -> str:
    return f"{'-' if descending else ''}{changelist.list_display.index(field)}"


def set_updated(phone: Phone, when: datetime) -> None:
    Phone.objects.filter(pk=phone.pk).update(updated_at=when)  # test data: auto_now would overwrite


@pytest.fixture
def phones(make_operator):
    owner = make_operator("backoffice-operator", email="owner@bank.example")
    made = {
        "mobile": PhoneFactory(actor=owner, type=PhoneType.MOBILE),
        "residential": PhoneFactory(actor=owner, type=PhoneType.RESIDENTIAL),
        "commercial": PhoneFactory(actor=owner, type=PhoneType.COMMERCIAL),
    }
    # The viewer's zone (the operators' default): the list's date filters read days in it. The
    # thread's current zone was the last admin request's, left by its middleware.
    tz = ZoneInfo(settings.OPERATOR_DEFAULT_TIME_ZONE)
    set_updated(made["mobile"], datetime(2026, 3, 1, 9, 0, tzinfo=tz))
    set_updated(made["residential"], datetime(2026, 3, 2, 23, 59, tzinfo=tz))  # late on the "to" day
    set_updated(made["commercial"], datetime(2026, 3, 5, 0, 0, tzinfo=tz))
    Phone.objects.filter(pk=made["commercial"].pk).update(active=False)
    return made


def ids(response) -> list[int]:
    return [phone.pk for phone in response.context["cl"].result_list]


def test_sorted_by_type_status_and_updated_time(viewer, phones):
    """Failed before: the type, active and updated columns were not sortable (``sortable_by``)."""
    changelist = viewer.get(LIST).context["cl"]
    by_type = viewer.get(LIST + "?o=" + sort_param(changelist, "type"))
    assert [Phone.objects.get(pk=pk).type for pk in ids(by_type)] == ["COMMERCIAL", "MOBILE", "RESIDENTIAL"]
    by_type_desc = viewer.get(LIST + "?o=" + sort_param(changelist, "type", descending=True))
    assert ids(by_type_desc) == list(reversed(ids(by_type)))
    by_updated = viewer.get(LIST + "?o=" + sort_param(changelist, "updated_at"))
    assert ids(by_updated) == [phones["mobile"].pk, phones["residential"].pk, phones["commercial"].pk]
    by_active = viewer.get(LIST + "?o=" + sort_param(changelist, "active"))
    assert ids(by_active)[0] == phones["commercial"].pk  # inactive first
    headers = by_updated.content.decode()
    for field in ("type", "active", "updated_at"):
        assert f"o={sort_param(changelist, field)}" in headers or f"o=-{sort_param(changelist, field)}" in headers


def test_updated_time_range_includes_both_days(viewer, phones):
    """Failed before: no date filter on the list."""
    response = viewer.get(LIST + "?updated_at_from=2026-03-02&updated_at_to=2026-03-02")
    assert ids(response) == [phones["residential"].pk]  # 23:59 on the "to" day counts
    response = viewer.get(LIST + "?updated_at_from=2026-03-02")
    assert set(ids(response)) == {phones["residential"].pk, phones["commercial"].pk}
    response = viewer.get(LIST + "?updated_at_to=2026-03-04")
    assert set(ids(response)) == {phones["mobile"].pk, phones["residential"].pk}


def test_a_date_that_is_no_date_is_left_out_with_a_message(viewer, phones):
    for junk in ("yesterday", "2026-02-30", "9999-12-31", "1" * 200):
        response = viewer.get(LIST + "?updated_at_to=" + junk, follow=True)
        assert response.status_code == 200
        assert len(ids(response)) == 3, junk
        assert "Ignored the filter “updated_at_to”: it is not a date (YYYY-MM-DD)." in [
            str(m) for m in response.context["messages"]
        ], junk
    # The screening still drops what no filter may read (a NUL), without a 500.
    response = viewer.get(LIST + "?updated_at_from=2026-03-02%00")
    assert response.status_code == 200 and len(ids(response)) == 3


def chips(response) -> dict[str, str]:
    html = response.content.decode()
    found = re.findall(
        r'<a href="([^"]*)" class="filter-chip[^>]*>\s*<span class="font-medium">([^<]*):</span> <span>([^<]*)</span>',
        html,
    )
    return {f"{label}: {value}": href.replace("&amp;", "&") for href, label, value in found}


def test_the_active_filters_show_as_chips_each_removable(viewer, phones):
    """Failed before: unfold only colours its "Filters" button; what filters the list was not shown."""
    changelist = viewer.get(LIST).context["cl"]
    order = sort_param(changelist, "updated_at", descending=True)
    query = f"?type__exact=MOBILE&active__exact=1&updated_at_from=2026-03-01&account=12&q=9&o={order}"
    response = viewer.get(LIST + query)
    shown = chips(response)
    assert set(shown) == {
        "Search: 9",
        "Type: Mobile",
        "Active: Yes",
        "Account ID: 12",
        "Updated at from: 2026-03-01",
    }, shown
    everything = parse_qs(urlsplit(query).query)
    for chip, href in shown.items():
        kept = parse_qs(urlsplit(href).query)
        dropped = set(everything) - set(kept)
        assert len(dropped) == 1, (chip, href)  # that one parameter, the sort and the rest kept
        assert kept["o"] == [order]
    # Following a chip's link lists without that filter.
    after = viewer.get(LIST + shown["Type: Mobile"])
    assert "Type: Mobile" not in chips(after) and "Active: Yes" in chips(after)
    assert chips(viewer.get(LIST)) == {}


def test_the_export_follows_the_date_filter(viewer, phones):
    response = viewer.get(reverse("admin:phones_phone_export") + "?updated_at_from=2026-03-02&updated_at_to=2026-03-02")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert len(body.strip().splitlines()) == 2  # the header and the one phone updated that day


def test_the_search_placeholder_is_short_enough_to_read():
    from phones.admin import PhoneAdmin

    # The browser check (test_browser_lists.py) measures it; this keeps the text itself short.
    assert len(str(PhoneAdmin.search_help_text)) <= 40


def test_default_list_still_newest_first(viewer, phones):
    newest = max(phone.pk for phone in phones.values())
    assert ids(viewer.get(LIST))[0] == newest
