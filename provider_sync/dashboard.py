"""The provider sync's dashboard card (registered in ``ProviderSyncConfig.ready``): sync job outcomes
per day over 30 days, and the jobs retrying now, each figure with the job list filtered to it."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from backoffice.dashboard import DayRows, bar_chart, can_view_phones, chart_days, daily_rows, figures_time, per_day
from phones.models import HAS_DUE_TIME, SyncJob, SyncJobStatus

# A job's outcome is final: synced, failed, or superseded by a newer job of the same target.
OUTCOMES = (SyncJobStatus.SYNCED, SyncJobStatus.FAILED, SyncJobStatus.SUPERSEDED)
OUTCOME_COLOURS = {
    SyncJobStatus.SYNCED: "var(--color-green-600)",
    SyncJobStatus.FAILED: "var(--color-red-600)",
    SyncJobStatus.SUPERSEDED: "var(--color-base-400)",
}


def jobs_url(**filters: Any) -> str:
    return reverse("admin:phones_syncjob_changelist") + "?" + urlencode(filters)


def outcomes_per_day(*, since: datetime, until: datetime | None, zone: tzinfo) -> DayRows:
    """Jobs finished from ``since`` to ``until`` (or now), per day in ``zone`` and outcome: one
    GROUP BY over a range of ``syncjob_finished_idx`` (which carries the status: index only)."""
    jobs = SyncJob.objects.filter(finished_at__gte=since)
    if until is not None:
        jobs = jobs.filter(finished_at__lt=until)
    return list(
        jobs.annotate(day=TruncDate("finished_at", tzinfo=zone))
        .order_by()  # the model's ordering (-id) would join the GROUP BY
        .values_list("day", "status")
        .annotate(n=Count("*"))
    )


def retrying_now() -> int:
    """Jobs waiting for another try after a failed one: open jobs only, which the partial index of
    due jobs (``syncjob_due_idx``, through ``HAS_DUE_TIME``) keeps few."""
    return SyncJob.objects.filter(HAS_DUE_TIME, status=SyncJobStatus.PENDING, attempts__gt=0).count()


def sync_outcomes_card(request: HttpRequest) -> dict[str, Any]:
    """``sync_chart`` (outcomes per day, last 30 days, the operator's time zone) and
    ``sync_figures`` (label, count, link to the job list filtered to them), for roles that open
    the job list (those that view phones)."""
    if not can_view_phones(request):
        return {}
    zone = timezone.get_current_timezone()
    now = figures_time(request)
    start, dates = chart_days(now, zone)
    rows = daily_rows(
        "sync-outcomes",
        "all",  # every role that opens the job list sees every job
        now=now,
        zone=zone,
        dates=dates,
        count=lambda since, until: outcomes_per_day(since=since, until=until, zone=zone),
    )
    counts = per_day(rows, dates, OUTCOMES)
    # Counts of jobs (the states' own labels are a link's or a job's, one at a time).
    labels = {
        SyncJobStatus.SYNCED: pgettext_lazy("sync jobs", "Synced"),
        SyncJobStatus.FAILED: pgettext_lazy("sync jobs", "Failed"),
        SyncJobStatus.SUPERSEDED: pgettext_lazy("sync jobs", "Superseded"),
    }
    since = start.isoformat()
    figures = [
        {
            "key": status.value,
            "label": labels[status],
            "count": sum(counts[status]),
            "url": jobs_url(status__exact=status.value, finished_at__gte=since),
        }
        for status in OUTCOMES
    ]
    figures.append(
        {
            "key": "retrying",
            "label": _("Waiting to retry"),  # pending, with an attempt behind it
            "count": retrying_now(),
            "url": jobs_url(status__exact=SyncJobStatus.PENDING.value, attempts__gt=0),
        }
    )
    return {
        "sync_chart": bar_chart(
            dates, [(labels[status], counts[status], OUTCOME_COLOURS[status]) for status in OUTCOMES]
        ),
        "sync_figures": figures,
        "sync_chart_url": jobs_url(finished_at__gte=since),
    }
