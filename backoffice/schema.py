"""OpenAPI extensions: our JWT authentication documented as the contract's ``BearerAuth``."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class OperatorJWTScheme(SimpleJWTScheme):
    target_class = "backoffice.auth.OperatorJWTAuthentication"
    name = "BearerAuth"
