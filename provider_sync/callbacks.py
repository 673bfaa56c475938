"""Provider callbacks: ``POST /providers/sinch/callback`` (signed provisioning events)."""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import caches
from django.db import OperationalError
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from backoffice.parsers import TOO_DEEP, json_depth_exceeds
from phones import outbox
from phones.changes import changes
from phones.models import Provider, SyncJob, SyncJobStatus
from provider_sync.adapters.sinch import SIGNATURE_HEADER, parse_callback_event, verify_callback_signature
from provider_sync.checks import check_callback_timestamp

logger = logging.getLogger("phones.sync")


def sinch_callback_received(*, number: str, event_type: str, status: str) -> list[int]:
    """A (verified) Sinch provisioning callback: make the number's provisioning jobs due now.

    The callback is not trusted as the outcome (order is not guaranteed): the worker confirms
    with a GET of the number. Returns the ids of the jobs nudged.

    Locks the jobs only (of the lock order phone, link, job, it needs the last), and skips a job
    another transaction holds: that one is being recorded or claimed right now, and will be
    polled anyway. So a callback never waits on the worker, and never deadlocks with it.
    """
    now = timezone.now()
    with changes() as work:
        jobs = work.lock(
            SyncJob.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                Q(link__remote_number=number) | Q(link__remote_number="", link__phone__e164=number),
                provider=Provider.SINCH,
                number=number,
                status=SyncJobStatus.PROVISIONING,
            )
        )
        nudged = [job.pk for job in jobs]
        work.touch_jobs(nudged, next_attempt_at=now, updated_at=now)
        for job_id in nudged:
            work.on_commit(partial(outbox.queue_delivery, job_id))
    logger.info("sinch callback %s %s for %s: nudged jobs %s", event_type, status, number, nudged)
    return nudged


def first_delivery(raw_body: bytes, *, sent_at: datetime, now: datetime, window: timedelta) -> bool | None:
    """Whether this signed body is seen for the first time (``None``: the replay cache cannot
    say). It is remembered until its timestamp leaves the window, after which the window check
    refuses it anyway; ``cache.add`` is atomic (SET NX on Redis), so of two copies racing, one wins.
    """
    key = "sinch-callback:" + hashlib.sha256(raw_body).hexdigest()
    ttl = max(1, math.ceil((sent_at + window - now).total_seconds()))
    try:
        return caches["replay"].add(key, now.isoformat(), timeout=ttl)
    except (RedisError, OSError) as exc:
        logger.warning("sinch callback replay cache unavailable (%s)", exc)
        return None


@csrf_exempt  # a provider posts here, not a browser: the HMAC signature is the protection
@require_POST
def sinch_callback(request: HttpRequest) -> JsonResponse:
    """Verify ``X-Sinch-Signature`` (HMAC-SHA1 of the raw body), the signed ``timestamp`` (within
    ``SINCH_CALLBACK_WINDOW_SECONDS`` of our clock) and that this body was not taken before, then
    make the number's provisioning job due now: the worker confirms the outcome with a GET
    (callbacks may come out of order, so their content is never taken as the state).

    Refusals are 4xx, which the provider does not retry; nothing here answers a 5xx.
    """
    raw = request.body
    client = getattr(request, "client_ip", None)
    if not verify_callback_signature(raw, request.headers.get(SIGNATURE_HEADER, ""), settings.SINCH_CALLBACK_SECRET):
        logger.warning("sinch callback with a bad signature from %s", client)
        return JsonResponse({"message": "Invalid signature"}, status=401)
    # Bounded before the decoder recurses into it (a RecursionError was a 500), as in the API.
    try:
        too_deep = json_depth_exceeds(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return JsonResponse({"message": "callback body is not UTF-8"}, status=400)
    if too_deep:
        return JsonResponse({"message": TOO_DEEP}, status=400)
    now = timezone.now()
    window = timedelta(seconds=settings.SINCH_CALLBACK_WINDOW_SECONDS)
    try:
        event = parse_callback_event(raw)
        sent_at = check_callback_timestamp(event.timestamp, now=now, window=window)
    except ValueError as exc:
        logger.warning("sinch callback refused from %s: %s", client, exc)
        return JsonResponse({"message": str(exc)}, status=400)
    first = first_delivery(raw, sent_at=sent_at, now=now, window=window)
    if first is False:
        logger.warning("sinch callback %s replayed from %s", event.event_id, client)
        return JsonResponse({"message": "Callback already received"}, status=409)
    if first is None:
        # Without the cache a replay cannot be told apart: act on nothing. The callback only
        # nudges the poll, which comes anyway.
        return JsonResponse({"received": event.event_id, "jobs": []}, status=200)
    try:
        jobs = sinch_callback_received(number=event.resource_id, event_type=event.event_type, status=event.status)
    except OperationalError as exc:
        # A lock conflict the database gave up on. The callback only nudges the poll, which comes
        # anyway: acknowledge it rather than have the provider retry against a 5xx.
        logger.warning("sinch callback for %s not applied (%s): the poll will confirm", event.resource_id, exc)
        jobs = []
    return JsonResponse({"received": event.event_id, "jobs": jobs}, status=200)
