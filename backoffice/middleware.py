"""Request context (id, client address); on API paths JSON-only errors and answers no cache keeps."""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import Callable
from http import HTTPStatus

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from backoffice.access_signals import serving
from backoffice.parsers import body_too_large_message

logger = logging.getLogger("backoffice.api")

# The API and the providers' callbacks: JSON in, JSON out, errors in the contract's shapes.
API_PREFIXES = ("/accounts/v1/", "/audit/v1/", "/auth/", "/providers/")
LOCKED_OUT = "Too many failed login attempts: this account is locked for a while. Try again later."
NEVER_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"
EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the app trusts it: ``REMOTE_ADDR``, or behind
    ``TRUSTED_PROXY_COUNT`` proxies the hop that many from the right of ``X-Forwarded-For`` (each
    proxy appends its caller; what the client wrote itself is further left and never read).

    Audit entries record it and django-axes keys lockouts by it (``AXES_CLIENT_IP_CALLABLE``), so
    a forged header neither hides a client nor locks an operator out for everybody. A request
    that did not come through the proxies (too few hops) or a hop that is not an address gets
    ``REMOTE_ADDR``.
    """
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(forwarded) >= hops and (address := _ip(forwarded[-hops])):
            return address
    return _ip(request.META.get("REMOTE_ADDR") or "")


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
        # Receivers of access events read it (``backoffice.access_signals``).
        with serving(request):
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
        if not is_api_path(request.path):
            return response
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            if getattr(request, "axes_locked_out", False):
                response = JsonResponse({"message": LOCKED_OUT}, status=response.status_code)
            else:
                response = self._json(response.status_code)
        # API answers carry personal data (numbers, accounts, operators): no browser or proxy may
        # keep them, errors included. What ``add_never_cache_headers`` sets, as constants (it
        # parses and formats headers on every answer); an expiry in the past for HTTP/1.0 caches.
        response["Cache-Control"] = NEVER_STORE
        response["Expires"] = EXPIRED
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


class DocumentCSPMiddleware(CSPMiddleware):
    """django-csp's policy (settings ``CONTENT_SECURITY_POLICY``) on documents: HTML pages and
    fragments. Any other answer (the API's JSON, CSV exports, Swagger UI's script) gets a fixed
    policy that allows nothing: it is never a document to run anything in, and ``nosniff`` keeps
    browsers from reading it as one. django-csp builds its policy for every answer, twice (the
    enforced and the report-only one): on a GET of one phone that was 15 % of the request's time.
    """

    NOT_A_DOCUMENT = "default-src 'none'; frame-ancestors 'none'"

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.get("Content-Type", "").startswith("text/html"):
            return super().process_response(request, response)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.NOT_A_DOCUMENT
        return response
