"""Provider callbacks: ``POST /providers/sinch/callback`` (signed provisioning events)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from phones import sync
from phones.providers.sinch import SIGNATURE_HEADER, parse_callback_event, verify_callback_signature

logger = logging.getLogger("phones.sync")


@csrf_exempt  # a provider posts here, not a browser: the HMAC signature is the protection
@require_POST
def sinch_callback(request: HttpRequest) -> JsonResponse:
    """Verify ``X-Sinch-Signature`` (HMAC-SHA1 of the raw body), then make the number's
    provisioning job due now: the worker confirms the outcome with a GET (callbacks may come
    out of order, so their content is never taken as the state)."""
    raw = request.body
    if not verify_callback_signature(raw, request.headers.get(SIGNATURE_HEADER, ""), settings.SINCH_CALLBACK_SECRET):
        logger.warning("sinch callback with a bad signature from %s", getattr(request, "client_ip", None))
        return JsonResponse({"message": "Invalid signature"}, status=401)
    try:
        event = parse_callback_event(raw)
    except ValueError as exc:
        return JsonResponse({"message": str(exc)}, status=400)
    jobs = sync.sinch_callback_received(number=event.resource_id, event_type=event.event_type, status=event.status)
    return JsonResponse({"received": event.event_id, "jobs": jobs}, status=200)
