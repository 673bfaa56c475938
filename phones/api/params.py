"""What every phone endpoint shares: its path parameters (as the contract names them), the
request body as a JSON object, and the contract's names of domain fields in error answers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from backoffice.api_docs import id_parameter
from phones.errors import PhoneValidationError

# The URLconf's names (``phones.api.urls``), so each is declared once, with its bounds.
ACCOUNT_ID = id_parameter("accountId", "Account ID")
PHONE_ID = id_parameter("phoneId", "Phone ID")
CUSTOMER_ID = id_parameter("x-customer-id", "Customer ID", OpenApiParameter.HEADER)
# Domain field -> the contract's name, for errors the services raise (``backoffice.api_errors``
# reads a view's ``error_fields``).
CONTRACT_FIELDS = {"account_id": "accountId", "phone_id": "phoneId", "customer_id": "x-customer-id"}


def json_object(request: Request) -> dict[str, Any]:
    """The request body, which must be a JSON object."""
    data = request.data
    if not isinstance(data, dict):
        raise PhoneValidationError("body", "Expected a JSON object.")
    return data
