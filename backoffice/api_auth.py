"""Token endpoints: simplejwt's, wired so that django-axes can lock out brute force, and described
as public operations with every answer they give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from backoffice.api_docs import error, errors

TokenPair = inline_serializer("TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()})
AccessToken = inline_serializer("AccessToken", {"access": serializers.CharField()})


class TokenObtainView(TokenObtainPairView):
    """``POST /auth/token`` with ``{"email", "password"}`` -> ``{"access", "refresh"}``."""

    @extend_schema(
        operation_id="obtain-token",
        summary="Sign in: a JWT pair for an operator's email and password",
        auth=[],
        responses={
            200: TokenPair,
            **errors(
                body=True,
                authenticated=False,
                not_found=False,
                e401=error("No active account found with the given credentials"),
                e429=error("Too many failed login attempts: the email is locked for a while from this address"),
            ),
        },
        tags=["Auth"],
    )
    def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().post(request, *args, **kwargs)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        # Axes marks a lockout on the request it is given; it must be Django's own request, which
        # its middleware inspects, not DRF's wrapper around it.
        context["request"] = self.request._request
        return context


class TokenRefreshApi(TokenRefreshView):
    """``POST /auth/token/refresh`` with ``{"refresh"}`` -> ``{"access"}``."""

    @extend_schema(
        operation_id="refresh-token",
        summary="A new access token for a refresh token",
        auth=[],
        responses={
            200: AccessToken,
            **errors(body=True, authenticated=False, not_found=False, e401=error("Token is invalid or expired")),
        },
        tags=["Auth"],
    )
    def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().post(request, *args, **kwargs)
