from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from backoffice.auth import log_denied


class RolePermission(BasePermission):
    """The view's ``required_perms`` (HTTP method -> one permission, or a tuple: any of them).

    A method the view does not list is denied: an operator without a role sees nothing.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method not in view.allowed_methods:
            return True  # let the view answer 405, which says more than a 403
        needed = getattr(view, "required_perms", {}).get(request.method)
        if request.method in ("HEAD", "OPTIONS") and needed is None:
            needed = getattr(view, "required_perms", {}).get("GET")
        if needed is None:
            log_denied(request, user, f"{request.method} not allowed")
            return False
        options = needed if isinstance(needed, tuple) else (needed,)
        if any(user.has_perm(perm) for perm in options):
            return True
        log_denied(request, user, " or ".join(options))
        return False


class DocsAccess(BasePermission):
    """Who reads ``/api/schema/`` and ``/api/docs/`` (drf-spectacular's ``SERVE_PERMISSIONS``):
    signed-in operators, or everybody when ``API_DOCS_PUBLIC``. Read at each request."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.API_DOCS_PUBLIC or (request.user and request.user.is_authenticated))
