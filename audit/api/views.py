from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.api.serializers import AuditEntryOutput
from audit.filters import AuditEntryFilter
from audit.models import AuditEvent, Origin
from audit.selectors import audit_entries_visible_to
from backoffice import roles
from backoffice.api_docs import CURSOR, PAGE_SIZE, error, errors, id_parameter, paginated
from backoffice.api_filters import filtered
from backoffice.errors import InvalidInput
from backoffice.ids import parse_id
from backoffice.pagination import StandardCursorPagination
from backoffice.permissions import RolePermission

AUDIT_READ = (roles.VIEW_AUDIT, roles.VIEW_OWN_AUDIT)


class AuditPagination(StandardCursorPagination):
    """Cursor pages: no ``count(*)`` over millions of entries, stable under concurrent inserts."""

    ordering = "-id"

    def decode_cursor(self, request: Request) -> Any:
        # DRF keeps the cursor's position as text and filters ``id < position`` with it: a
        # hand-made cursor whose position is not an id raised a ValueError (a 500).
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                parse_id(cursor.position, "cursor")
            except InvalidInput:
                raise exceptions.NotFound(self.invalid_cursor_message) from None
        return cursor


# ``AuditEntryFilter``'s filters, as the API reads them (``backoffice.api_filters``).
LIST_FILTERS = [
    id_parameter("phone_id", "Only this phone's entries.", OpenApiParameter.QUERY),
    id_parameter("account_id", "Only this account's entries.", OpenApiParameter.QUERY),
    OpenApiParameter("event", str, OpenApiParameter.QUERY, enum=AuditEvent.values, description="Only this event."),
    OpenApiParameter(
        "email",
        {"type": "string", "minLength": 1, "pattern": r"\S"},
        OpenApiParameter.QUERY,
        description="Only this operator's (any case).",
    ),
    OpenApiParameter("origin", str, OpenApiParameter.QUERY, enum=Origin.values, description="Only from this origin."),
    OpenApiParameter(
        "created_after", OpenApiTypes.DATETIME, OpenApiParameter.QUERY, description="Created at or after (ISO 8601)."
    ),
    OpenApiParameter(
        "created_before", OpenApiTypes.DATETIME, OpenApiParameter.QUERY, description="Created before (ISO 8601)."
    ),
]


class AuditEntryListApi(APIView):
    permission_classes = [RolePermission]
    required_perms = {"GET": AUDIT_READ}

    @extend_schema(
        operation_id="list-audit-entries",
        summary="List audit entries",
        parameters=[*LIST_FILTERS, CURSOR, PAGE_SIZE],
        responses={200: paginated("PaginatedAuditEntryList", AuditEntryOutput, with_count=False), **errors()},
        tags=["Audit"],
    )
    def get(self, request: Request) -> Response:
        entries = filtered(AuditEntryFilter, request.query_params, audit_entries_visible_to(request.user))
        paginator = AuditPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(AuditEntryOutput(page, many=True).data)


class AuditEntryItemApi(APIView):
    permission_classes = [RolePermission]
    required_perms = {"GET": AUDIT_READ}

    @extend_schema(
        operation_id="get-audit-entry",
        summary="Read one audit entry",
        parameters=[id_parameter("entryId", "Audit entry ID")],
        responses={200: AuditEntryOutput, **errors(e404=error("Audit entry not found"))},
        tags=["Audit"],
    )
    def get(self, request: Request, entryId: str) -> Response:
        pk = parse_id(entryId, "entryId")
        entry = audit_entries_visible_to(request.user).filter(pk=pk).first()
        if entry is None:
            raise exceptions.NotFound("Audit entry not found")
        return Response(AuditEntryOutput(entry).data)
