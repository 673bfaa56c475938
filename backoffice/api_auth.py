"""Token endpoints: simplejwt's, wired so that django-axes can lock out brute force, tokens that
carry the operator's token version and refresh tokens used once (``backoffice.tokens``), and a
sign-out; described as public operations with every answer they give."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_logged_in, user_login_failed
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenObtainSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenViewBase

from backoffice import mfa
from backoffice.api_docs import error, errors
from backoffice.tokens import OperatorRefreshToken, retire_refresh_token, use_refresh_token

PASSWORD_CHANGE_REQUIRED = "A new password must be chosen first: sign in to the backoffice to set it."

TokenPair = inline_serializer("TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()})
REFRESH_REFUSED = error(
    "Token is invalid, expired or already used (a refresh token is used once), or its operator's "
    "password, status or roles changed since it was issued"
)
OTP_REFUSED = (
    "An authentication code is required: the current code of the operator's authenticator app, or a recovery code"
)


class TokenObtainInput(TokenObtainPairSerializer):
    """simplejwt's credentials, the email bounded as the operator's column is: a longer one is a
    400 before anything authenticates (axes used to write it to its 255-character column: a 500).
    The pair carries the operator's token version. An operator enrolled in MFA also gives
    ``otp``: its authenticator's current code or a recovery code (``backoffice.mfa``)."""

    token_class = OperatorRefreshToken

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        max_length = get_user_model()._meta.get_field(self.username_field).max_length
        self.fields[self.username_field] = serializers.CharField(write_only=True, max_length=max_length)
        self.fields["otp"] = serializers.CharField(
            write_only=True,
            required=False,
            allow_blank=True,
            max_length=32,
            help_text="Authentication code (6 digits) or a recovery code: required once the operator has enrolled "
            "an authenticator app",
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        # simplejwt's pair, with the code checked between the password and the tokens: a refused
        # code issues nothing (not even an outstanding-token row).
        TokenObtainSerializer.validate(self, attrs)  # the password: sets self.user or raises 401
        if mfa.is_enrolled(self.user) and mfa.verify_code(self.user, attrs.get("otp")) is None:
            # A failed sign-in for django-axes' lockout, as a wrong password is; the credentials
            # name the operator only, the code is written nowhere.
            request = self.context["request"]
            user_login_failed.send(
                sender=type(self), credentials={self.username_field: attrs[self.username_field]}, request=request
            )
            raise AuthenticationFailed(OTP_REFUSED, code="otp_invalid")
        refresh = self.get_token(self.user)
        if api_settings.UPDATE_LAST_LOGIN:
            update_last_login(None, self.user)
        return {"refresh": str(refresh), "access": str(refresh.access_token)}


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
                e401=error(
                    "No active account found with the given credentials, or the operator is enrolled in MFA "
                    "and the authentication code (otp) is missing or wrong"
                ),
                e429=error("Too many failed login attempts: the email is locked for a while from this address"),
                e403=error(PASSWORD_CHANGE_REQUIRED),
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
        if serializer.user.password_change_required:
            # Someone else chose this password (``backoffice.password_policy``): its holder
            # chooses their own in the backoffice before any token is issued.
            return Response({"message": PASSWORD_CHANGE_REQUIRED}, status=status.HTTP_403_FORBIDDEN)
        user_logged_in.send(sender=type(serializer.user), request=request._request, user=serializer.user)
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


class RefreshInput(serializers.Serializer):
    """``{"refresh"}``: the refresh token, checked by the view's action."""

    refresh = serializers.CharField(write_only=True)


class TokenRefreshApi(TokenRefreshView):
    """``POST /auth/token/refresh`` with ``{"refresh"}`` -> ``{"access", "refresh"}``: the refresh
    token given is used up (blacklisted) and a new one comes with the access token."""

    serializer_class = RefreshInput

    @extend_schema(
        operation_id="refresh-token",
        summary="A new token pair for a refresh token, which is then used up",
        auth=[],
        request=RefreshInput,
        responses={
            200: TokenPair,
            **errors(body=True, authenticated=False, not_found=False, e401=REFRESH_REFUSED),
        },
        tags=["Auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = use_refresh_token(serializer.validated_data["refresh"])
        except TokenError as error:
            raise InvalidToken(error.args[0]) from error
        return Response(pair, status=status.HTTP_200_OK)


class LogoutApi(TokenViewBase):
    """``POST /auth/logout`` with ``{"refresh"}`` -> 204: the refresh token is blacklisted.

    Public, as the other token endpoints: the refresh token is the credential, and whoever holds
    it could use it anyway; an operator whose access token has expired or was revoked can still
    sign out. The access tokens already issued expire on their own (15 minutes)."""

    serializer_class = RefreshInput

    @extend_schema(
        operation_id="logout",
        summary="Sign out: the refresh token is blacklisted and gives no more access tokens",
        auth=[],
        request=RefreshInput,
        responses={
            204: None,
            **errors(
                body=True,
                authenticated=False,
                not_found=False,
                e401=error("Token is invalid, expired or already used (signed out or refreshed)"),
            ),
        },
        tags=["Auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            retire_refresh_token(serializer.validated_data["refresh"])
        except TokenError as error:
            raise InvalidToken(error.args[0]) from error
        return Response(status=status.HTTP_204_NO_CONTENT)
