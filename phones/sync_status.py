"""What a provider link's sync is doing, in one line for operators (admin and API).

``describe(link, job)`` reads the link and its latest relevant job (``latest_job``: the newest
open job of the link, else its newest job) and says where the sync stands: "retrying, attempt 2
of 8, last error 503 at 14:51, next try at 14:52". It reads nothing itself; ``latest_job`` reads
the job in one statement, or picks it from jobs already fetched (``prefetch_latest_job`` for a
list page: one statement for the whole page).

Times are shown in the project's time zone (``TIME_ZONE``) as HH:MM, with the date when they are
not today.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext

from phones.models import OPEN_JOB_STATUSES, Provider, ProviderLink, SyncJob, SyncJobStatus, SyncState

# What ``state`` may be: the link's sync states, and these two.
RETRYING = "retrying"
UNLINKED = "unlinked"
# Where ``prefetch_latest_job`` puts a link's relevant job (a list of at most one).
LATEST_JOB_ATTR = "sync_latest_jobs"
ERROR_SHOWN = 160  # characters of the provider's message in the one-line text


@dataclass(frozen=True)
class SyncStatus:
    """Where a link's sync stands.

    ``attempt`` is the number of the push running (in progress) or next to run (pending,
    retrying), or of the last one made (provisioning, synced, failed); None without a job.
    ``since``: queued at (pending, retrying), claimed at (in progress), provisioning since,
    synced or failed at.
    """

    state: str
    text: str
    attempt: int | None
    max_attempts: int
    last_status: int | None
    last_error: str
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    since: datetime | None


# --- The job --------------------------------------------------------------------------------


def _relevant_order() -> tuple[Any, ...]:
    open_first = Case(When(status__in=OPEN_JOB_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (open_first, "-pk")


def relevant_jobs() -> QuerySet[SyncJob]:
    """Jobs in the order that makes the first of a link its relevant one."""
    return SyncJob.objects.order_by(*_relevant_order())


def prefetch_latest_job(lookup: str = "jobs") -> Prefetch:
    """``queryset.prefetch_related(prefetch_latest_job())``: each link's relevant job, one
    statement for all the links (``lookup`` from the queryset's model to the link's jobs, e.g.
    ``"provider_link__jobs"`` from phones)."""
    return Prefetch(lookup, queryset=relevant_jobs()[:1], to_attr=LATEST_JOB_ATTR)


def _pick(jobs: Iterable[SyncJob]) -> SyncJob | None:
    jobs = list(jobs)
    open_jobs = [job for job in jobs if job.status in OPEN_JOB_STATUSES]
    return max(open_jobs or jobs, key=lambda job: job.pk, default=None)


def latest_job(link: ProviderLink, jobs: Iterable[SyncJob] | None = None) -> SyncJob | None:
    """The link's newest open job, else its newest job; None when it has none.

    Picked from ``jobs`` when given (the link's jobs, fetched already), or from what
    ``prefetch_latest_job`` attached; otherwise read in one statement.
    """
    if jobs is None:
        jobs = getattr(link, LATEST_JOB_ATTR, None)
    if jobs is not None:
        return _pick(job for job in jobs if job.link_id == link.pk)
    if link.pk is None:
        return None
    return relevant_jobs().filter(link_id=link.pk).first()


# --- The words ------------------------------------------------------------------------------


def _at(value: datetime | None, now: datetime) -> str:
    """HH:MM in the project's time zone; with the date when it is not today."""
    if value is None:
        return "?"
    local = timezone.localtime(value)
    if local.date() == timezone.localtime(now).date():
        return local.strftime("%H:%M")
    return f"{date_format(local, 'SHORT_DATE_FORMAT')} {local.strftime('%H:%M')}"


def _provider(code: str) -> str:
    try:
        return str(Provider(code).label)
    except ValueError:
        return code


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= ERROR_SHOWN else message[: ERROR_SHOWN - 1] + "…"


def _error_brief(status: int | None, message: str) -> str:
    """The last error in a few characters: its HTTP status, else the start of its message."""
    if status is not None:
        return str(status)
    return f'"{_short(message)[:60]}"' if message else gettext("unknown")


def _failure(message: str, status: int | None, codes: Iterable[str]) -> str:
    details = []
    if status is not None:
        details.append(gettext("status %(status)s") % {"status": status})
    codes = [str(code) for code in codes or ()]
    if codes:
        details.append(ngettext("code %(codes)s", "codes %(codes)s", len(codes)) % {"codes": ", ".join(codes)})
    text = f": {_short(message)}" if message else ""
    return text + (f" ({', '.join(details)})" if details else "")


# --- The description ------------------------------------------------------------------------


def describe(link: ProviderLink, job: SyncJob | None, *, now: datetime | None = None) -> SyncStatus:
    """Where ``link``'s sync stands, from the link and its relevant job (``latest_job``).

    Pure: reads no row. Without a job (none yet, or not fetched) the link's own fields say what
    they can (its state, last error and times), without attempts or the next try.
    """
    now = now or timezone.now()
    max_attempts = settings.SYNC_MAX_ATTEMPTS
    if job is None or job.status == SyncJobStatus.SUPERSEDED:
        return _from_link(link, now, max_attempts)
    status = _from_job(link, job, now, max_attempts)
    if link.linked:
        return status
    # Unlinked: the job releases the number (or did); what it does follows.
    if job.status == SyncJobStatus.SYNCED:
        text = gettext("unlinked, number released at %(provider)s at %(at)s") % {
            "provider": _provider(job.provider),
            "at": _at(status.since, now),
        }
    elif job.status == SyncJobStatus.FAILED:
        text = gettext("unlinked, releasing the number %(status)s") % {"status": status.text}
    else:
        text = gettext("unlinked, releasing the number at %(provider)s: %(status)s") % {
            "provider": _provider(job.provider),
            "status": status.text,
        }
    return replace(status, state=UNLINKED, text=text)


def _last_attempt_at(link: ProviderLink, job: SyncJob) -> datetime | None:
    """When the job was last worked on: its link's last claim when it is the job's, else the
    job's own last change; None before any attempt."""
    if not (job.attempts or job.polls):
        return None
    claimed = link.last_attempt_at
    if claimed is not None and job.created_at is not None and claimed >= job.created_at:
        return claimed
    return job.updated_at


def _from_job(link: ProviderLink, job: SyncJob, now: datetime, max_attempts: int) -> SyncStatus:
    attempts = job.attempts
    last_at = _last_attempt_at(link, job)
    status, error = job.last_status, job.last_error
    next_at: datetime | None = None
    provider = _provider(job.provider)
    if job.status == SyncJobStatus.PENDING and attempts:
        state, attempt, since, next_at = RETRYING, attempts + 1, job.created_at, job.next_attempt_at
        last = (
            gettext("last error %(error)s at %(at)s") % {"error": _error_brief(status, error), "at": _at(last_at, now)}
            if (status or error)
            else ""
        )
        retrying = gettext("retrying, attempt %(attempt)d of %(max)d") % {"attempt": attempt, "max": max_attempts}
        next_try = gettext("next try at %(at)s") % {"at": _at(next_at, now)}
        text = ", ".join(part for part in (retrying, last, next_try) if part)
    elif job.status == SyncJobStatus.PENDING:
        state, attempt, since, next_at = SyncState.PENDING, 1, job.created_at, job.next_attempt_at
        waiting = (
            gettext("next try at %(at)s") % {"at": _at(next_at, now)}
            if next_at is not None and next_at > now
            else gettext("waiting for %(provider)s") % {"provider": provider}
        )
        text = gettext("pending since %(at)s, %(waiting)s") % {"at": _at(since, now), "waiting": waiting}
    elif job.status == SyncJobStatus.IN_PROGRESS:
        state, attempt, since = SyncState.IN_PROGRESS, attempts, last_at or job.updated_at
        text = gettext("in progress at %(provider)s, attempt %(attempt)d of %(max)d, since %(at)s") % {
            "provider": provider,
            "attempt": attempt,
            "max": max_attempts,
            "at": _at(since, now),
        }
        if status or error:
            text += " " + gettext("(last error %(error)s)") % {"error": _error_brief(status, error)}
        if job.locked_until is not None and job.locked_until < now:
            text += gettext("; its worker stopped answering at %(at)s, the push will be taken over") % {
                "at": _at(job.locked_until, now)
            }
    elif job.status == SyncJobStatus.PROVISIONING:
        state, attempt = SyncState.PROVISIONING, attempts
        since, next_at = job.provisioning_started_at or last_at, job.next_attempt_at
        text = gettext("provisioning at %(provider)s since %(since)s, next check at %(at)s") % {
            "provider": provider,
            "since": _at(since, now),
            "at": _at(next_at, now),
        }
        if status or error:
            text += " " + gettext("(last check failed: %(error)s)") % {"error": _error_brief(status, error)}
    elif job.status == SyncJobStatus.SYNCED:
        state, attempt = SyncState.SYNCED, attempts
        since = job.finished_at or link.last_synced_at or job.updated_at
        text = gettext("synced at %(at)s") % {"at": _at(since, now)}
        if attempts > 1:
            text += " " + gettext("(after %(attempts)d attempts)") % {"attempts": attempts}
    else:  # failed
        state, attempt = SyncState.FAILED, attempts
        since = job.finished_at or job.updated_at
        failed = (
            gettext("failed after %(attempts)d attempts") % {"attempts": attempts}
            if attempts > 1
            else gettext("failed")
        )
        text = gettext("%(failed)s%(failure)s at %(at)s") % {
            "failed": failed,
            "failure": _failure(error, status, job.last_error_codes),
            "at": _at(since, now),
        }
    return SyncStatus(
        state=str(state),
        text=text,
        attempt=attempt,
        max_attempts=max_attempts,
        last_status=status,
        last_error=error,
        last_attempt_at=last_at,
        next_attempt_at=next_at,
        since=since,
    )


def _from_link(link: ProviderLink, now: datetime, max_attempts: int) -> SyncStatus:
    last_at, status, error = link.last_attempt_at, link.last_status, link.last_error
    since: datetime | None = None
    state = link.sync_state
    if not link.linked:
        state, text = UNLINKED, gettext("unlinked")
    elif state == SyncState.IN_PROGRESS:
        since = last_at
        text = gettext("in progress at %(provider)s") % {"provider": _provider(link.provider)}
        if since:
            text += " " + gettext("since %(at)s") % {"at": _at(since, now)}
    elif state == SyncState.PROVISIONING:
        text = gettext("provisioning at %(provider)s") % {"provider": _provider(link.provider)}
        if last_at is not None:
            text += gettext(", last check at %(at)s") % {"at": _at(last_at, now)}
    elif state == SyncState.SYNCED:
        since = link.last_synced_at
        text = gettext("synced at %(at)s") % {"at": _at(since, now)} if since else gettext("synced")
    elif state == SyncState.FAILED:
        since = last_at
        text = gettext("failed") + _failure(error, status, link.last_error_codes)
        if since is not None:
            text += " " + gettext("at %(at)s") % {"at": _at(since, now)}
    else:
        text = (
            gettext("pending, last error %(error)s") % {"error": _error_brief(status, error)}
            if (status or error)
            else gettext("pending")
        )
    return SyncStatus(
        state=str(state),
        text=text,
        attempt=None,
        max_attempts=max_attempts,
        last_status=status,
        last_error=error,
        last_attempt_at=last_at,
        next_attempt_at=None,
        since=since,
    )
