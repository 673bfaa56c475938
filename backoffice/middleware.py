"""Request context (id, client address) and JSON-only errors on API paths."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from backoffice.parsers import body_too_large_message

logger = logging.getLogger("backoffice.api")

# The API and the providers' callbacks: JSON in, JSON out, errors in the contract's shapes.
API_PREFIXES = ("/accounts/v1/", "/audit/v1/", "/auth/", "/providers/")
LOCKED_OUT = "Too many failed login attempts: this account is locked for a while. Try again later."
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def client_ip(request: HttpRequest) -> str | None:
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


def _declared_length(request: HttpRequest) -> int:
    """The body's ``Content-Length``; as Django reads it, anything unparsable is no body."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


class RequestContextMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` when sane) and a client address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.client_ip = client_ip(request)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class ApiErrorMiddleware:
    """API clients never see an HTML error page or a stack trace.

    DRF views render their own errors; this catches what happens outside them (unknown URLs,
    Django's CSRF/400 pages, exceptions in middleware) and rewrites it as ``{"message"}``. A body
    declared longer than ``API_MAX_BODY_BYTES`` is refused here (413) before anything reads it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path) and _declared_length(request) > settings.API_MAX_BODY_BYTES:
            return self._too_large()
        response = self.get_response(request)
        if (
            is_api_path(request.path)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            if getattr(request, "axes_locked_out", False):
                return JsonResponse({"message": LOCKED_OUT}, status=response.status_code)
            return self._json(response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return self._too_large()
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return self._json(500)

    @staticmethod
    def _too_large() -> JsonResponse:
        return JsonResponse({"message": body_too_large_message(settings.API_MAX_BODY_BYTES)}, status=413)

    @staticmethod
    def _json(status: int) -> JsonResponse:
        message = "Not found" if status == 404 else HTTPStatus(status).phrase
        return JsonResponse(
            {"message": message},
            status=status,
            json_dumps_params={"ensure_ascii": False},
        )
