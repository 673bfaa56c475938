"""Token endpoints: simplejwt's, wired so that django-axes can lock out brute force."""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.views import TokenObtainPairView


class TokenObtainView(TokenObtainPairView):
    """``POST /auth/token`` with ``{"email", "password"}`` -> ``{"access", "refresh"}``."""

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        # Axes marks a lockout on the request it is given; it must be Django's own request, which
        # its middleware inspects, not DRF's wrapper around it.
        context["request"] = self.request._request
        return context
