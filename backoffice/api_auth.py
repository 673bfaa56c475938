"""Token endpoints: simplejwt's, wired so that django-axes can lock out brute force, and described
as public operations with every answer they give."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from backoffice.api_docs import error, errors

TokenPair = inline_serializer("TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()})
AccessToken = inline_serializer("AccessToken", {"access": serializers.CharField()})


class TokenObtainInput(TokenObtainPairSerializer):
    """simplejwt's credentials, the email bounded as the operator's column is: a longer one is a
    400 before anything authenticates (axes used to write it to its 255-character column: a 500)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        max_length = get_user_model()._meta.get_field(self.username_field).max_length
        self.fields[self.username_field] = serializers.CharField(write_only=True, max_length=max_length)


class TokenObtainView(TokenObtainPairView):
    """``POST /auth/token`` with ``{"email", "password"}`` -> ``{"access", "refresh"}``."""

    serializer_class = TokenObtainInput

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        # Axes marks a lockout on the request it is given; it must be Django's own request, which
        # its middleware inspects, not DRF's wrapper around it.
        context["request"] = self.request._request
        return context

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
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as error:
            raise InvalidToken(error.args[0]) from error
        # A sign-in succeeded: say so as Django's login() does. django-axes resets the failure
        # count on this signal (AXES_RESET_ON_SUCCESS); simplejwt never sends it, so failures
        # around successful sign-ins used to add up to a lockout.
        user_logged_in.send(sender=type(serializer.user), request=request._request, user=serializer.user)
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


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
