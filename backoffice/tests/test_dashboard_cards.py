"""The dashboard's charts, lists and figures: days in the operator's time zone, every figure a link
to the list behind it (and no link a role may not open), the audit only for roles that read it, the
time the figures were taken, and a query count that does not grow with the data."""

from __future__ import annotations

import json
import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry, AuditEvent, Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from backoffice.dashboard import chart_days, per_day
from backoffice.roles import ROLES
from phones.models import SyncJob, SyncJobStatus
from phones.services import phone_create, phone_inactivate, phone_update
from provider_sync import links

pytestmark = pytest.mark.django_db

SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")  # UTC-3, no daylight saving time since 2019
# Noon of 10 March 2026 in São Paulo: the charts' last day; their first is 9 February.
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
CTX = AuditContext(origin=Origin.CRM, request_id="req-dashboard")
DASHBOARD = reverse("admin:index")


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The phone totals and the charts' closed days are cached: each test counts its own data.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


def at(moment: datetime):
    """Everything stamped with ``moment``: the entries' and jobs' times, the dashboard's clock."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def utc(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def new_phone(operator, number: str, account_id: int = 7001):
    return phone_create(
        actor=Actor.of(operator),
        context=CTX,
        account_id=account_id,
        number=number,
        type="MOBILE",
        area_code=11,
        country_code=55,
    )


def new_link(operator, phone):
    return links.provider_link_set(
        actor=Actor.of(operator),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        provider="sinch",
        settings={"sms_service_plan_id": "plan-a"},
    )


def dashboard(client, operator, moment: datetime = NOW, zone=SAO_PAULO):
    # The admin activates the operator's own zone for each request (over any override here).
    operator.time_zone = str(zone)
    operator.save(update_fields=["time_zone"])
    client.force_login(operator)
    with at(moment), timezone.override(zone):
        response = client.get(DASHBOARD)
    assert response.status_code == 200
    return response


def series(chart_json: str) -> dict[str, list[int]]:
    chart = json.loads(chart_json)
    assert len(chart["labels"]) == 30
    return {dataset["label"]: dataset["data"] for dataset in chart["datasets"]}


def day_index(day: date) -> int:
    _, dates = chart_days(NOW, SAO_PAULO)
    return dates.index(day)


def hrefs(response) -> list[str]:
    page = response.content.decode()
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', page.split('id="dashboard"')[1])]


# --- Days in the operator's time zone -------------------------------------------------------------


def test_the_charts_days_begin_at_midnight_in_the_zone():
    start, dates = chart_days(NOW, SAO_PAULO)
    assert dates[0] == date(2026, 2, 9) and dates[-1] == date(2026, 3, 10) and len(dates) == 30
    assert start == datetime(2026, 2, 9, 3, 0, tzinfo=UTC)
    # 01:00 UTC on 10 March is still the 9th in São Paulo: the 9th is the last day.
    assert chart_days(utc(10, 1), SAO_PAULO)[1][-1] == date(2026, 3, 9)


def test_per_day_puts_each_count_on_its_day_and_zero_elsewhere():
    dates = [date(2026, 3, 8), date(2026, 3, 9)]
    rows = [
        (date(2026, 3, 9), "a", 2),
        (date(2026, 3, 8), "b", 1),
        (date(2026, 3, 7), "a", 5),
        (date(2026, 3, 9), "c", 9),
    ]
    assert per_day(rows, dates, ["a", "b"]) == {"a": [0, 2], "b": [1, 0]}


def test_phone_changes_per_day_count_in_the_operators_zone_across_midnight(client, boss):
    with at(utc(8, 2, 59, month=2)):
        new_phone(boss, "91234-0000")  # 7 Feb 23:59 in São Paulo: before the first day
    with at(utc(9, 3, 0, month=2)):
        new_phone(boss, "91234-0001")  # 9 Feb 00:00 in São Paulo: the first day
    with at(utc(9, 2, 30)):
        new_phone(boss, "91234-0002")  # 8 Mar 23:30 in São Paulo (9 Mar in UTC)
    with at(utc(9, 3, 30)):
        changed = new_phone(boss, "91234-0003")  # 9 Mar 00:30 in São Paulo
    with at(utc(10, 2, 59)):  # 9 Mar 23:59 in São Paulo (10 Mar in UTC)
        phone_update(actor=Actor.of(boss), context=CTX, account_id=7001, phone_id=changed.pk, data={"extension": "12"})

    context = dashboard(client, boss).context
    data = series(context["changes_chart"])
    created, updated = data["Created"], data["Changed"]
    assert created[day_index(date(2026, 2, 9))] == 1
    assert created[day_index(date(2026, 3, 8))] == 1
    assert created[day_index(date(2026, 3, 9))] == 1
    assert updated[day_index(date(2026, 3, 9))] == 1
    assert sum(created) == 3 and sum(updated) == 1 and context["changes_30d"] == 4

    # In UTC the same entries fall on other days: the 8 March creation is a 9 March one.
    utc_data = series(dashboard(client, boss, zone=UTC).context["changes_chart"])
    _, utc_dates = chart_days(NOW, UTC)
    assert utc_data["Created"][utc_dates.index(date(2026, 3, 9))] == 2
    assert utc_data["Changed"][utc_dates.index(date(2026, 3, 10))] == 1


def test_sync_outcomes_per_day_count_finished_jobs_in_the_zone(client, boss):
    jobs = []
    with at(utc(1, 12)):
        for i in range(5):
            link = new_link(boss, new_phone(boss, f"91234-10{i:02d}"))
            jobs.append(SyncJob.objects.filter(link=link).latest("id"))
    finished = [
        (jobs[0], SyncJobStatus.SYNCED, utc(9, 2, 30)),  # 8 Mar in São Paulo
        (jobs[1], SyncJobStatus.SYNCED, utc(9, 3, 30)),  # 9 Mar
        (jobs[2], SyncJobStatus.FAILED, utc(9, 4)),  # 9 Mar
        (jobs[3], SyncJobStatus.SUPERSEDED, utc(8, 2, 59, month=2)),  # 7 Feb: before the window
    ]
    for job, status, when in finished:
        SyncJob.objects.filter(pk=job.pk).update(status=status, finished_at=when)
    SyncJob.objects.filter(pk=jobs[4].pk).update(status=SyncJobStatus.PENDING, attempts=2)  # retrying

    context = dashboard(client, boss).context
    data = series(context["sync_chart"])
    assert data["Synced"][day_index(date(2026, 3, 8))] == 1
    assert data["Synced"][day_index(date(2026, 3, 9))] == 1
    assert data["Failed"][day_index(date(2026, 3, 9))] == 1
    assert sum(data["Superseded"]) == 0
    figures = {figure["key"]: figure for figure in context["sync_figures"]}
    assert {key: figure["count"] for key, figure in figures.items()} == {
        "synced": 2,
        "failed": 1,
        "superseded": 0,
        "retrying": 1,
    }
    # Each figure opens the job list filtered to exactly the jobs it counts.
    expected = {"synced": [jobs[1], jobs[0]], "failed": [jobs[2]], "superseded": [], "retrying": [jobs[4]]}
    for key, figure in figures.items():
        shown = client.get(figure["url"])
        assert shown.status_code == 200, key
        assert [job.pk for job in shown.context["cl"].result_list] == [job.pk for job in expected[key]], key
    in_window = client.get(context["sync_chart_url"]).context["cl"].result_list
    assert {job.pk for job in in_window} == {jobs[0].pk, jobs[1].pk, jobs[2].pk}


def test_closed_days_are_counted_once_and_the_open_day_on_every_view(client, boss):
    with at(utc(5, 12)):
        new_phone(boss, "91234-1101")  # 5 March: a closed day
    first = series(dashboard(client, boss).context["changes_chart"])["Created"]
    assert first[day_index(date(2026, 3, 5))] == 1 and first[day_index(date(2026, 3, 10))] == 0
    with at(NOW + timedelta(hours=1)):
        new_phone(boss, "91234-1102")  # today: counted at once
    with CaptureQueriesContext(connection) as queries:
        again = series(dashboard(client, boss, moment=NOW + timedelta(hours=2)).context["changes_chart"])["Created"]
    assert again[day_index(date(2026, 3, 10))] == 1 and again[day_index(date(2026, 3, 5))] == 1
    # The closed days came from the cache: no statement reads before today's midnight.
    ranges = [q["sql"] for q in queries.captured_queries if "AT TIME ZONE" in q["sql"] and "audit" in q["sql"]]
    assert len(ranges) == 1 and "2026-03-10 00:00:00-03:00" in ranges[0], ranges


def test_the_day_before_stays_open_for_the_first_minutes_after_midnight(client, boss):
    midnight = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 10 March 00:00 in São Paulo
    dashboard(client, boss, moment=midnight + timedelta(minutes=1))
    # An entry stamped before midnight by a transaction that committed after the first view.
    with at(midnight - timedelta(seconds=1)):
        new_phone(boss, "91234-1201")
    later = series(dashboard(client, boss, moment=midnight + timedelta(minutes=3)).context["changes_chart"])
    _, dates = chart_days(midnight + timedelta(minutes=3), SAO_PAULO)
    assert later["Created"][dates.index(date(2026, 3, 9))] == 1


# --- Every figure a link to the list behind it ----------------------------------------------------


def test_each_audit_figure_opens_the_list_it_counts(client, boss, make_operator):
    other = make_operator("crm-operator", email="other@bank.example")
    mine = new_phone(boss, "91234-2001")
    new_phone(other, "91234-2002")
    phone_update(actor=Actor.of(boss), context=CTX, account_id=7001, phone_id=mine.pk, data={"extension": "7"})
    context = dashboard(client, boss, moment=timezone.now(), zone=UTC).context

    def listed(url: str) -> list[AuditEntry]:
        response = client.get(url)
        assert response.status_code == 200, url
        return list(response.context["cl"].result_list)

    assert len(listed(context["audit_url"])) == context["changes_24h"] == 3
    assert [e.event for e in listed(context["created_24h_url"])] == [AuditEvent.PHONE_CREATION] * 2
    assert [e.event for e in listed(context["changed_24h_url"])] == [AuditEvent.PHONE_CHANGE]
    assert len(listed(context["changes_chart_url"])) == context["changes_30d"] == 3
    assert {e.operator_email for e in listed(context["my_changes_url"])} == {"boss@bank.example"}


def test_each_phone_figure_opens_the_list_it_counts(client, boss):
    new_phone(boss, "91234-3001")
    inactive = new_phone(boss, "91234-3002")
    phone_inactivate(actor=Actor.of(boss), context=CTX, account_id=7001, phone_id=inactive.pk)
    response = dashboard(client, boss, moment=timezone.now())
    mobile = next(row for row in response.context["phone_type_table"]["rows"] if row[0] == "Mobile")
    for cell, expected in zip(mobile[1:], (1, 1, 2), strict=True):
        url = re.search(r'href="([^"]+)"', cell).group(1).replace("&amp;", "&")
        assert len(client.get(url).context["cl"].result_list) == expected, url
    page_links = hrefs(response)
    active_url = reverse("admin:phones_phone_changelist") + "?active__exact=1"
    assert active_url in page_links
    assert len(client.get(active_url).context["cl"].result_list) == 1


@pytest.mark.parametrize("role", [*ROLES, None])
def test_no_dashboard_link_leads_to_a_page_the_role_may_not_open(client, boss, make_operator, role):
    phone = new_phone(boss, "91234-4001")
    new_link(boss, phone)
    operator = make_operator(*([role] if role else []), email="probe@bank.example")
    if role == "crm-operator":
        new_phone(operator, "91234-4002")  # something of its own in "My recent changes"
    response = dashboard(client, operator, moment=timezone.now())
    opened = 0
    for href in hrefs(response):
        if href.startswith("/admin/") and "logout" not in href:
            assert client.get(href).status_code == 200, f"{role}: {href}"
            opened += 1
    reads_audit = role in {"crm-operator", "backoffice-operator", "itibackoffice-operator", "itibackoffice-master"} or (
        role or ""
    ).startswith("inspetoria")
    audit_links = [href for href in hrefs(response) if href.startswith(reverse("admin:audit_auditentry_changelist"))]
    assert bool(audit_links) is reads_audit, role
    job_links = [href for href in hrefs(response) if href.startswith(reverse("admin:phones_syncjob_changelist"))]
    assert bool(job_links) is (role is not None), role
    assert opened or role is None


# --- The audit for roles that read it ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["treasury-operator", "itinivel1-operator", "geroficios-operator"])
def test_recent_activity_is_hidden_from_roles_that_may_not_read_the_audit(client, boss, make_operator, role):
    new_phone(boss, "91234-5001")
    response = dashboard(client, make_operator(role, email="probe@bank.example"), moment=timezone.now())
    for key in ("recent_activity", "my_changes", "changes_chart", "changes_24h"):
        assert key not in response.context, key
    page = response.content.decode()
    assert 'id="recent-activity"' not in page and 'id="my-changes"' not in page
    assert "91234" not in page and "boss@bank.example" not in page


def test_recent_activity_shows_what_the_role_may_read(client, boss, make_operator):
    crm = make_operator("crm-operator", email="carla@bank.example")
    theirs = new_phone(boss, "91234-6001")
    own = new_phone(crm, "91234-6002")
    phone_update(actor=Actor.of(crm), context=CTX, account_id=7001, phone_id=own.pk, data={"extension": "9"})

    everything = dashboard(client, boss, moment=timezone.now()).context["recent_activity"]
    assert {row["operator"] for row in everything} >= {"boss@bank.example", "carla@bank.example"}
    assert len(everything) <= 10

    response = dashboard(client, crm, moment=timezone.now())
    # A crm-operator reads its own entries only: the boss's creation is not there.
    assert {row["operator"] for row in response.context["recent_activity"]} == {"carla@bank.example"}
    assert reverse("admin:phones_phone_change", args=[theirs.pk]) not in response.content.decode()
    # Its own changes, newest first, each with its phone.
    mine = response.context["my_changes"]
    assert [row["title"].split(":")[0] for row in mine] == ["Phone changed", "Phone created"]
    assert {row["phone_url"] for row in mine} == {reverse("admin:phones_phone_change", args=[own.pk])}
    assert 'id="my-changes"' in response.content.decode()


def test_my_recent_changes_are_the_operators_own_hand_changes(client, boss, make_operator):
    other = make_operator("backoffice-operator", email="other@bank.example")
    mine = new_phone(boss, "91234-7001")
    new_phone(other, "91234-7002")
    for n in range(12):
        phone_update(actor=Actor.of(boss), context=CTX, account_id=7001, phone_id=mine.pk, data={"extension": str(n)})
    rows = dashboard(client, boss, moment=timezone.now()).context["my_changes"]
    assert len(rows) == 10
    assert all(row["operator"] == "boss@bank.example" for row in rows)
    assert all(row["title"].startswith("Phone changed") for row in rows)


# --- The time the figures were taken ------------------------------------------------------------


def test_the_dashboard_says_when_its_figures_were_taken(client, boss):
    new_phone(boss, "91234-8001")
    dashboard(client, boss, moment=datetime(2026, 3, 10, 17, 0, 0, tzinfo=UTC))  # totals counted, cached
    response = dashboard(client, boss, moment=datetime(2026, 3, 10, 17, 5, 12, tzinfo=UTC))
    page = response.content.decode()
    assert "Figures taken at 14:05:12 (America/Sao_Paulo)" in page
    # The phone totals come from a cache of up to a minute: they say when they were counted.
    assert "Phone totals counted at 14:00:00" in page


# --- Bounded work -------------------------------------------------------------------------------


def count_dashboard_queries(client, operator) -> int:
    """Statements of a first view: nothing cached (the phone totals, the charts' closed days)."""
    cache.clear()
    client.force_login(operator)
    client.get(DASHBOARD)  # the session and permission caches warm, as on any later visit
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(DASHBOARD).status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("role", ["backoffice-operator", "crm-operator"])
def test_the_dashboards_query_count_is_bounded_and_does_not_grow_with_the_data(client, make_operator, role):
    operator = make_operator(role, email="probe@bank.example")
    owner = make_operator("backoffice-operator", email="owner@bank.example")
    for i in range(2):
        new_link(owner, new_phone(operator if i else owner, f"91234-90{i:02d}"))
    few = count_dashboard_queries(client, operator)
    for i in range(2, 25):
        phone = new_phone(operator if i % 2 else owner, f"91234-90{i:02d}")
        new_link(owner, phone)
        phone_update(actor=Actor.of(owner), context=CTX, account_id=7001, phone_id=phone.pk, data={"extension": "1"})
    SyncJob.objects.filter(id__in=SyncJob.objects.order_by("id").values("id")[:10]).update(
        status=SyncJobStatus.SYNCED, finished_at=timezone.now() - timedelta(days=3)
    )
    many = count_dashboard_queries(client, operator)
    assert few == many
    # Session, operator, permissions; then one statement per figure (totals, failures, retrying,
    # 24 h, recent activity, my changes) and two per chart (the closed days, today): 13 when this
    # was written; a later view reads the closed days from the cache.
    assert many <= 14, many
    client.get(DASHBOARD)
    with CaptureQueriesContext(connection) as cached:
        client.get(DASHBOARD)
    assert len(cached.captured_queries) <= many - 3  # the totals and both charts' closed days
