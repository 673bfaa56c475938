from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from backoffice.api_fields import (
    InputSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from phones.limits import (
    AREA_CODE_MAX,
    COUNTRY_CODE_MAX,
    DEFAULT_COUNTRY_CODE,
    EXTENSION_MAX_LENGTH,
    NUMBER_MAX_LENGTH,
)
from phones.models import Phone, PhoneType


class PhoneCreateInput(InputSerializer):
    """``PhoneRequest`` of the contract. Unknown members are ignored, as the contract allows."""

    number = StrictCharField(max_length=NUMBER_MAX_LENGTH, trim_whitespace=False)
    type = StrictChoiceField(choices=PhoneType.choices)
    active = StrictBooleanField(required=False, default=True)
    area_code = StrictIntegerField(required=False, min_value=0, max_value=AREA_CODE_MAX)
    country_code = StrictIntegerField(
        required=False, default=DEFAULT_COUNTRY_CODE, min_value=0, max_value=COUNTRY_CODE_MAX
    )
    extension = StrictCharField(
        required=False, max_length=EXTENSION_MAX_LENGTH, allow_blank=True, trim_whitespace=False
    )


class PhoneUpdateInput(InputSerializer):
    """``PhoneUpdateRequest`` of the contract: every member optional, at least one required."""

    min_members = 1  # phones.checks.check_phone_update refuses an empty update

    area_code = StrictIntegerField(required=False, min_value=0, max_value=AREA_CODE_MAX)
    number = StrictCharField(required=False, max_length=NUMBER_MAX_LENGTH, trim_whitespace=False)
    type = StrictChoiceField(required=False, choices=PhoneType.choices)
    extension = StrictCharField(
        required=False, max_length=EXTENSION_MAX_LENGTH, allow_blank=True, trim_whitespace=False
    )
    active = StrictBooleanField(required=False)
    country_code = StrictIntegerField(required=False, min_value=0, max_value=COUNTRY_CODE_MAX)


class PhoneIdOutput(serializers.Serializer):
    id = serializers.IntegerField()


class PhoneOutput(serializers.ModelSerializer):
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
        read_only_fields = fields


class PhoneListFilter(serializers.Serializer):
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    type = StrictChoiceField(required=False, choices=PhoneType.choices)


def _datetime(value: Any) -> str:
    # DRF's DateTimeField rendering (ISO 8601, "Z" for UTC), without building a serializer.
    text = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def phone_representation(phone: Phone) -> dict[str, Any]:
    """``PhoneOutput(phone).data`` at a fraction of the cost.

    A ModelSerializer rebuilds its fields from the model on every instantiation; profiled, that
    was ~1.7 ms of a ~6 ms GET. ``PhoneOutput`` stays the documented schema and a test keeps the
    two identical.
    """
    return {
        "id": phone.pk,
        "account_id": phone.account_id,
        "customer_id": phone.customer_id,
        "number": phone.number,
        "type": phone.type,
        "area_code": phone.area_code,
        "country_code": phone.country_code,
        "extension": phone.extension,
        "active": phone.active,
        "e164": phone.e164,
        "created_at": _datetime(phone.created_at),
        "updated_at": _datetime(phone.updated_at),
    }
