from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.api.serializers import AuditEntryOutput
from audit.filters import AuditEntryFilter
from audit.selectors import audit_entries_visible_to
from backoffice import roles
from backoffice.api_docs import COMMON_ERRORS, error, paginated
from backoffice.errors import InvalidInput
from backoffice.ids import parse_id
from backoffice.permissions import RolePermission

AUDIT_READ = (roles.VIEW_AUDIT, roles.VIEW_OWN_AUDIT)


class AuditPagination(CursorPagination):
    """Cursor pages: no ``count(*)`` over millions of entries, stable under concurrent inserts."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

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


class AuditEntryListApi(APIView):
    permission_classes = [RolePermission]
    required_perms = {"GET": AUDIT_READ}

    @extend_schema(
        operation_id="list-audit-entries",
        summary="List audit entries",
        filters=True,
        responses={200: paginated("PaginatedAuditEntryList", AuditEntryOutput, with_count=False), **COMMON_ERRORS},
        tags=["Audit"],
    )
    def get(self, request: Request) -> Response:
        filterset = AuditEntryFilter(request.query_params, queryset=audit_entries_visible_to(request.user))
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        paginator = AuditPagination()
        page = paginator.paginate_queryset(filterset.qs, request, view=self)
        return paginator.get_paginated_response(AuditEntryOutput(page, many=True).data)


class AuditEntryItemApi(APIView):
    permission_classes = [RolePermission]
    required_perms = {"GET": AUDIT_READ}

    @extend_schema(
        operation_id="get-audit-entry",
        summary="Read one audit entry",
        responses={200: AuditEntryOutput, **COMMON_ERRORS, 404: error("Not found")},
        tags=["Audit"],
    )
    def get(self, request: Request, entry_id: str) -> Response:
        pk = parse_id(entry_id, "id")
        entry = audit_entries_visible_to(request.user).filter(pk=pk).first()
        if entry is None:
            raise exceptions.NotFound("Audit entry not found")
        return Response(AuditEntryOutput(entry).data)
