"""What every phone endpoint shares: its path parameters (as the contract names them), the
request body as a JSON object, and the contract's names of domain fields in error answers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from phones.errors import PhoneValidationError

ACCOUNT_ID = OpenApiParameter("accountId", OpenApiTypes.INT64, OpenApiParameter.PATH, description="Account ID")
PHONE_ID = OpenApiParameter("phoneId", OpenApiTypes.INT64, OpenApiParameter.PATH, description="Phone ID")
CUSTOMER_ID = OpenApiParameter(
    "x-customer-id",
    OpenApiTypes.INT64,
    OpenApiParameter.HEADER,
    required=False,
    description="Customer ID",
)
# Domain field -> the contract's name, for errors the services raise (``backoffice.api_errors``
# reads a view's ``error_fields``).
CONTRACT_FIELDS = {"account_id": "accountId", "phone_id": "phoneId", "customer_id": "x-customer-id"}


def json_object(request: Request) -> dict[str, Any]:
    """The request body, which must be a JSON object."""
    data = request.data
    if not isinstance(data, dict):
        raise PhoneValidationError("body", "Expected a JSON object.")
    return data
