"""The minimal endpoint, written the way a plain DRF project would write it."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEntry
from phones.models import Phone

FIELDS = ["number", "type", "area_code", "country_code", "extension", "active"]


class PhoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Phone
        fields = [
            "id",
            "account_id",
            "customer_id",
            "number",
            "type",
            "area_code",
            "country_code",
            "extension",
            "active",
            "e164",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "account_id", "customer_id", "e164", "created_at", "updated_at"]


def _audit(phone: Phone, event: str) -> None:
    AuditEntry.objects.create(
        event=event,
        payload={"object": {field: getattr(phone, field) for field in FIELDS}, "account_id": phone.account_id},
        changes={},
        phone_id=phone.pk,
        account_id=phone.account_id,
        operator_email="anonymous@example.com",
        origin="API",
        created_at=timezone.now(),
        hash="",
    )


class PhoneList(APIView):
    def get(self, request, account_id: int) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(Phone.objects.filter(account_id=account_id).order_by("id"), request, self)
        return paginator.get_paginated_response(PhoneSerializer(page, many=True).data)

    def post(self, request, account_id: int) -> Response:
        serializer = PhoneSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            phone = Phone(account_id=account_id, **serializer.validated_data)
            phone.derive()
            phone.save(force_insert=True)
            _audit(phone, "phone_creation")
        return Response({"id": phone.pk})


class PhoneDetail(APIView):
    def get(self, request, account_id: int, phone_id: int) -> Response:
        phone = get_object_or_404(Phone, pk=phone_id, account_id=account_id)
        return Response(PhoneSerializer(phone).data)

    def patch(self, request, account_id: int, phone_id: int) -> Response:
        with transaction.atomic():
            phone = get_object_or_404(Phone.objects.select_for_update(), pk=phone_id, account_id=account_id)
            serializer = PhoneSerializer(phone, data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            for field, value in serializer.validated_data.items():
                setattr(phone, field, value)
            phone.derive()
            phone.save()
            _audit(phone, "phone_change")
        return Response({"id": phone.pk})
