"""The dashboard in Chromium, per role: its charts are drawn by the Chart.js we serve (a canvas with a
chart on it), under the strict CSP (no console error, no policy violation), and only the sections
the role may read are there. A screenshot per role lands in ``test-output/screenshots/``."""

from __future__ import annotations

from datetime import timedelta

import pytest

# The browser and the signed-in page come from the journeys' module (one Chromium per module).
from backoffice.tests.test_browser import browser, pytestmark, shot  # noqa: F401
from backoffice.tests.test_browser import page_for as page_for

# Role, charts drawn (sync outcomes for roles that open the job list, changes for audit readers).
ROLES = [
    ("backoffice-operator", 2, True),
    ("crm-operator", 2, True),
    ("inspetoria-operator", 2, True),
    ("treasury-operator", 1, False),
]


def _activity(make_operator, monkeypatch, creator=None):
    """Phones (made by ``creator``, else a backoffice operator), links and finished jobs over the
    last days, so that the charts have bars."""
    from unittest import mock

    from django.core.cache import cache
    from django.utils import timezone

    from backoffice.actor import Actor
    from phones import outbox
    from phones.models import SyncJob, SyncJobStatus
    from phones.services import phone_create
    from provider_sync import links
    from provider_sync.tests.conftest import BR_NUMBER, CTX

    # The totals and closed days another test counted (the live server's cache outlives it) would
    # be this page's.
    cache.clear()
    # No broker here: what would be published is dropped.
    monkeypatch.setattr(outbox, "queue_delivery", lambda job_id, countdown=None: True)
    monkeypatch.setattr(outbox, "queue_deliveries", lambda job_ids: len(job_ids))
    boss = make_operator("backoffice-operator", email="boss@bank.example")
    now = timezone.now()
    statuses = [SyncJobStatus.SYNCED, SyncJobStatus.SYNCED, SyncJobStatus.FAILED, SyncJobStatus.SUPERSEDED]
    for i in range(12):
        moment = now - timedelta(days=i * 2, hours=i)
        with mock.patch("django.utils.timezone.now", return_value=moment):
            phone = phone_create(
                actor=Actor.of(creator or boss), context=CTX, **{**BR_NUMBER, "number": f"91234-56{i:02d}"}
            )
            link = links.provider_link_set(
                actor=Actor.of(boss),
                context=CTX,
                account_id=phone.account_id,
                phone_id=phone.pk,
                provider="sinch",
                settings={"sms_service_plan_id": "plan-a"},
            )
        SyncJob.objects.filter(link=link).update(status=statuses[i % 4], finished_at=moment + timedelta(minutes=1))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("role", "charts", "reads_audit"), ROLES)
def test_the_dashboard_draws_its_charts_for_each_role(page_for, make_operator, monkeypatch, role, charts, reads_audit):
    from playwright.sync_api import expect

    email = f"dash.{role}@bank.example"
    operator = make_operator(role, email=email)
    # A crm-operator's audit is its own changes: it makes the phones, so that its chart has bars.
    _activity(make_operator, monkeypatch, creator=operator if role == "crm-operator" else None)
    page = page_for(email)
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.reload()  # the listeners see the dashboard load from its start
    expect(page.locator("#figures-taken-at")).to_contain_text("Figures taken at")
    canvases = page.locator("#dashboard canvas.chart")
    expect(canvases).to_have_count(charts)
    # Chart.js drew each canvas: it keeps a chart per canvas, with the data the page carried.
    drawn = page.evaluate(
        """() => [...document.querySelectorAll('#dashboard canvas.chart')].map(canvas => {
            const chart = Chart.getChart(canvas);
            return chart ? chart.data.datasets.reduce((n, d) => n + d.data.reduce((a, b) => a + b, 0), 0) : -1;
        })"""
    )
    assert all(total > 0 for total in drawn), drawn
    assert page.locator("#dashboard canvas.chart").first.bounding_box()["height"] >= 200
    expect(page.locator("#recent-activity")).to_have_count(1 if reads_audit else 0)
    expect(page.locator("#my-changes")).to_have_count(1 if reads_audit else 0)
    shot(page, f"dashboard-{role}")
    assert not problems, problems
