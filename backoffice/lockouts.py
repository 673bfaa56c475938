"""Sign-in lockouts (django-axes' attempt records) as operator managers see and lift them.

axes keys its records by the email as typed at sign-in, lower-cased (``auth.axes_username``),
and by the client address; sign-in itself strips and lower-cases the email
(``auth.RoleBackend.authenticate``). An operator's records are therefore every record whose
username folds to its email, whatever the address, agent or spacing it was tried with.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.db.models.functions import Lower, Trim
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.access_signals import lifting_lockout, operator_unlocked
from backoffice.models import User
from backoffice.services import OperatorChangeRefused, may_change_operator


def folded(email: str) -> str:
    """The email as sign-in compares it."""
    return email.strip().lower()


def _attempts_of(emails: Iterable[str]) -> QuerySet:
    from axes.models import AccessAttempt

    wanted = sorted({folded(email) for email in emails})
    return AccessAttempt.objects.annotate(folded_username=Lower(Trim("username"))).filter(folded_username__in=wanted)


def locked_out(emails: Iterable[str]) -> set[str]:
    """Which of these operators' emails are locked out now: as axes decides (``AXES_LOCKOUT_PARAMETERS``
    username and address together), the failures since the cool-off began, from one address, reach
    the limit. One statement, whatever the number of emails (a page of the operator list)."""
    wanted = list(emails)
    if not wanted or not settings.AXES_ENABLED:
        return set()
    attempts = _attempts_of(wanted)
    if settings.AXES_COOLOFF_TIME is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
    rows = (
        attempts.values("folded_username", "ip_address")
        .annotate(failures=Sum("failures_since_start"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .values_list("folded_username", flat=True)
    )
    return set(rows)


def may_unlock(actor: User, operator: User) -> bool:
    """An operator manager unlocks whom it may change (the password reset's limits): never a
    superuser or another manager, nor itself; a superuser unlocks anybody."""
    return actor.has_perm("backoffice.change_user") and may_change_operator(actor, operator)


def unlock_operator(*, actor: User, operator: User) -> bool:
    """Lift ``operator``'s sign-in lockout: delete every axes attempt record of its email (each
    form it was typed in, from every address), in one transaction.

    Returns whether it was locked out. Only then is one ``operator_unlocked`` signal sent (the
    access event naming who unlocked whom), inside the transaction; the deletions' own
    per-record events are held back (``lifting_lockout``) so that one unlock is one entry.
    Raises ``OperatorChangeRefused`` (nothing deleted) when ``actor`` may not unlock it.
    """
    if not may_unlock(actor, operator):
        refusal = _("Only a superuser can unlock a superuser or an operator who manages operators.")
        raise OperatorChangeRefused(str(refusal))
    with transaction.atomic():
        was_locked = bool(locked_out([operator.email]))
        attempts = _attempts_of([operator.email])
        failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
        with lifting_lockout():
            attempts.delete()
        if was_locked:
            operator_unlocked.send(sender=User, actor=actor, operator=operator, failures=failures)
    return was_locked


def human_duration(duration: timedelta | None) -> str:
    """A duration as operators read it ("15 minutes", "1 hour 30 minutes"), not ISO 8601's "PT15M"."""
    if duration is None:
        return ""
    minutes = max(1, round(duration.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(ngettext("%(count)d day", "%(count)d days", days) % {"count": days})
    if hours:
        parts.append(ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours})
    if minutes:
        parts.append(ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes})
    return " ".join(parts)
