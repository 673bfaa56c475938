"""Who may read the API's description (``/api/schema/``) and its docs page (``/api/docs/``).

Signed-in operators only (session or bearer token, DRF's authentication classes), unless
``API_DOCS_PUBLIC`` (``backoffice.permissions.DocsAccess``). Anonymous callers of the schema get
the API's 401 ``{"message"}``; a browser asking for the docs page is sent to the admin's sign-in
page and back.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBase
from django.urls import reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class ApiSchemaView(SpectacularAPIView):
    """The OpenAPI document; its refusals in the API's JSON shape, not in YAML."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI (assets from the sidecar) whose start-up script is a URL of its own, not an
    inline ``<script>``: the Content-Security-Policy allows no inline script."""

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)
