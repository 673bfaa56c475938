"""Every API error in the contract's shapes: 400 ``{"message", "field"}``, others ``{"message"}``."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from backoffice.errors import ApplicationError, InvalidInput
from backoffice.parsers import body_too_large_message

logger = logging.getLogger("backoffice.api")

GENERIC_500 = "Internal server error"


def first_error(detail: Any, path: str = "") -> tuple[str, str]:
    """The first (field, message) of a DRF error tree, fields joined with dots."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = path if key in ("non_field_errors", "detail") else (f"{path}.{key}" if path else str(key))
            return first_error(value, field)
        return path or "body", "Invalid input."
    if isinstance(detail, list):
        if not detail:
            return path or "body", "Invalid input."
        return first_error(detail[0], path)
    return path or "body", str(detail)


def bad_request(field: str, message: str) -> Response:
    return Response({"message": message, "field": field}, status=status.HTTP_400_BAD_REQUEST)


def api_field(field: str, view: Any) -> str:
    """The contract's name of a domain field, from the view's ``error_fields`` (domain name ->
    API name). A dotted field maps by its first part (``account_id.x`` -> ``accountId.x``); a
    name the view does not map is the API's name too (``settings.x`` stays)."""
    names: dict[str, str] = getattr(view, "error_fields", None) or {}
    head, dot, rest = field.partition(".")
    return names.get(head, head) + dot + rest


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, InvalidInput):
        return bad_request(api_field(exc.field, context.get("view")), exc.message)
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message}, status=exc.status)
    if isinstance(exc, exceptions.ParseError):
        return bad_request("body", f"Malformed JSON: {exc.detail}")
    if isinstance(exc, exceptions.ValidationError):
        field, message = first_error(exc.detail)
        return bad_request(field, message)
    if isinstance(exc, RequestDataTooBig):
        # Django's own bound on reading a body (the middleware refuses most before this).
        message = body_too_large_message(settings.API_MAX_BODY_BYTES)
        return Response({"message": message}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent):
        # Django's own bound on the parameters it parses (``DATA_UPLOAD_MAX_NUMBER_FIELDS``); the
        # API reads JSON bodies only, so it is the query that went past it.
        return bad_request("query", "Too many query parameters.")
    if isinstance(exc, Http404):
        return Response({"message": "Not found"}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None:
        data = response.data
        message = str(data["detail"]) if isinstance(data, dict) and "detail" in data else first_error(data)[1]
        response.data = {"message": message}
        return response
    # Anything else is a bug: log it with the stack, answer the contract's text, never the trace.
    view = context.get("view")
    logger.exception("unhandled error in %s", type(view).__name__ if view else "API")
    request = context.get("request")
    messages = getattr(view, "server_error_messages", {})
    message = messages.get(getattr(request, "method", ""), GENERIC_500)
    return Response({"message": message}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
