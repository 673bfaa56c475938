"""OpenAPI extensions: our JWT authentication documented as the contract's ``BearerAuth`` (and
service accounts' keys as ``ApiKeyAuth``), and
what our request serializers require beyond their fields."""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import Direction


class OperatorJWTScheme(SimpleJWTScheme):
    target_class = "backoffice.auth.OperatorJWTAuthentication"
    name = "BearerAuth"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Service accounts' keys (``backoffice.service_accounts``), beside the people's tokens."""

    target_class = "backoffice.service_accounts.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A service account's key: `Api-Key bo_<prefix>_<secret>` (issued by "
            "`manage.py service_account issue-key`).",
        }


class InputSerializerScheme(OpenApiSerializerExtension):
    """A request body's object as DRF describes it, plus ``minProperties`` when the serializer
    asks for at least so many members (``InputSerializer.min_members``): a PATCH of ``{}`` is a
    400, and the document must say so."""

    target_class = "backoffice.api_fields.InputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if self.target.min_members:
            schema["minProperties"] = self.target.min_members
        return schema
