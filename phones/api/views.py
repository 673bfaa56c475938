"""Phones API: the Pismo contract's create and update, plus reads. Parse, call, render."""

from __future__ import annotations

from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import Origin
from audit.services import AuditContext
from backoffice import roles
from backoffice.actor import Actor
from backoffice.api_docs import PAGE, PAGE_SIZE, error, errors, paginated
from backoffice.api_filters import cleaned_filters
from backoffice.ids import parse_id
from backoffice.pagination import FetchedPagination
from backoffice.permissions import RolePermission
from phones import selectors, services
from phones.api.params import ACCOUNT_ID, CONTRACT_FIELDS, CUSTOMER_ID, PHONE_ID, json_object
from phones.api.serializers import (
    PhoneCreateInput,
    PhoneIdOutput,
    PhoneOutput,
    PhoneUpdateInput,
    phone_representation,
)
from phones.filters import PhoneFilter
from phones.models import Phone, PhoneType
from phones.versions import phone_version


def _customer_id(request: Request) -> int | None:
    raw = request.headers.get("x-customer-id")
    if raw is None:
        return None
    return parse_id(raw, "x-customer-id")


def _list_filters(request: Request) -> tuple[bool | None, str | None]:
    """``active`` and ``type``, validated by ``PhoneFilter`` (which also documents them). A list
    without them skips building the filter form (~0.3 ms)."""
    if not request.query_params.keys() & PhoneFilter.base_filters.keys():
        return None, None
    data = cleaned_filters(PhoneFilter, request.query_params)
    return data.get("active"), data.get("type") or None


# Optimistic concurrency for tools that want it (the contract has none: without If-Match the last
# write wins, as the contract says). The ETag is the phone's version token (``phones.versions``).
ETAG = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    required=True,
    response=[200],
    description="The phone's version (a strong entity tag). Send it back in `If-Match` to update only that version.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="Update only if the phone is still at this version (its `ETag`); otherwise 412 and "
    "nothing is written. `*` matches any version. Without it the update applies whatever changed since.",
)
# What ``If-Match`` becomes when none of its tags can match (malformed, or only weak tags): no
# version token is empty, so the update's check under the phone's lock answers 412.
NO_VERSION = ""


def _etag(phone: Phone) -> dict[str, str]:
    return {"ETag": f'"{phone_version(phone)}"'}


def _expected_version(request: Request, account_id: int, phone_id: int) -> str | None:
    """The version ``If-Match`` asks for, to be checked under the phone's lock; None without the
    header or with ``*`` (any version of an existing phone: the update's 404 covers the rest).
    RFC 9110's strong comparison: a weak tag never matches. With several tags, the one that is
    the phone's version now (read without the lock: the check under it decides)."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    tags = parse_etags(raw)
    if tags == ["*"]:
        return None
    strong = [tag[1:-1] for tag in tags if not tag.startswith("W/")]
    if len(strong) > 1:
        current = phone_version(
            selectors.access_phone_by_id(user=request.user, account_id=account_id, phone_id=phone_id)
        )
        return current if current in strong else strong[0]
    return strong[0] if strong else NO_VERSION


LIST_FILTERS = [
    OpenApiParameter("active", bool, OpenApiParameter.QUERY, description="Only active (true) or inactive (false)."),
    OpenApiParameter("type", str, OpenApiParameter.QUERY, enum=PhoneType.values, description="Only this type."),
]


class PhoneCollectionApi(APIView):
    permission_classes = [RolePermission]
    error_fields = CONTRACT_FIELDS
    required_perms = {"GET": roles.VIEW_PHONE, "POST": roles.ADD_PHONE}
    server_error_messages = {
        "POST": "Error creating phone number",
        "GET": "Error listing phone numbers",
    }

    @extend_schema(
        operation_id="list-account-phones",
        summary="List an account's phones",
        parameters=[ACCOUNT_ID, *LIST_FILTERS, PAGE, PAGE_SIZE],
        responses={200: paginated("PaginatedPhoneList", PhoneOutput), **errors()},
        tags=["Phones"],
    )
    def get(self, request: Request, accountId: str) -> Response:
        account = parse_id(accountId, "accountId")
        active, phone_type = _list_filters(request)
        paginator = FetchedPagination()
        page = paginator.paginate_fetch(
            request,
            lambda offset, limit: selectors.access_account_phones_page(
                user=request.user,
                account_id=account,
                active=active,
                phone_type=phone_type,
                offset=offset,
                limit=limit,
            ),
        )
        return paginator.get_paginated_response([phone_representation(phone) for phone in page])

    @extend_schema(
        operation_id="post-accounts-v1-accounts-accountId-phones",
        summary="Create phone",
        parameters=[ACCOUNT_ID, CUSTOMER_ID],
        request=PhoneCreateInput,
        responses={
            200: PhoneIdOutput,
            **errors(
                body=True,
                e409=error("Phone number already exists"),
                e500=error("Error creating phone number"),
            ),
        },
        tags=["Phones"],
    )
    def post(self, request: Request, accountId: str) -> Response:
        account = parse_id(accountId, "accountId")
        customer_id = _customer_id(request)
        serializer = PhoneCreateInput(data=json_object(request))
        serializer.is_valid(raise_exception=True)
        phone = services.phone_create(
            actor=Actor.of(request.user),
            context=AuditContext.from_request(request, origin=Origin.API),
            account_id=account,
            customer_id=customer_id,
            **serializer.validated_data,
        )
        return Response({"id": phone.pk})


class PhoneItemApi(APIView):
    permission_classes = [RolePermission]
    error_fields = CONTRACT_FIELDS
    required_perms = {"GET": roles.VIEW_PHONE, "PATCH": roles.CHANGE_PHONE}
    server_error_messages = {
        "PATCH": "Error updating phone number",
        "GET": "Error reading phone number",
    }

    @extend_schema(
        operation_id="get-account-phone",
        summary="Read one phone",
        parameters=[ACCOUNT_ID, PHONE_ID, ETAG],
        responses={200: PhoneOutput, **errors(e404=error("Phone not found"))},
        tags=["Phones"],
    )
    def get(self, request: Request, accountId: str, phoneId: str) -> Response:
        phone = selectors.access_phone_by_id(
            user=request.user,
            account_id=parse_id(accountId, "accountId"),
            phone_id=parse_id(phoneId, "phoneId"),
        )
        return Response(phone_representation(phone), headers=_etag(phone))

    @extend_schema(
        operation_id="patch-accounts-v1-accounts-accountId-phones-phoneId",
        summary="Update phone",
        parameters=[ACCOUNT_ID, PHONE_ID, IF_MATCH, ETAG],
        request=PhoneUpdateInput,
        responses={
            200: PhoneIdOutput,
            **errors(
                body=True,
                e404=error("Phone not found"),
                e409=error("Phone number already exists"),
                e412=error("If-Match names a version the phone is no longer at: nothing was written"),
                e422=error("Can't update an inactive phone number"),
                e500=error("Error updating phone number"),
            ),
        },
        tags=["Phones"],
    )
    def patch(self, request: Request, accountId: str, phoneId: str) -> Response:
        account = parse_id(accountId, "accountId")
        phone_pk = parse_id(phoneId, "phoneId")
        serializer = PhoneUpdateInput(data=json_object(request), partial=True)
        serializer.is_valid(raise_exception=True)
        phone = services.phone_update(
            actor=Actor.of(request.user),
            context=AuditContext.from_request(request, origin=Origin.API),
            account_id=account,
            phone_id=phone_pk,
            data=serializer.validated_data,
            expected_version=_expected_version(request, account, phone_pk),
        )
        # The version this update left, so that a tool can chain its next If-Match.
        return Response({"id": phone.pk}, headers=_etag(phone))
