from __future__ import annotations

from rest_framework import serializers

from backoffice.api_fields import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from phones.models import Phone, PhoneType

INT32_MAX = 2**31 - 1


class PhoneCreateInput(serializers.Serializer):
    """``PhoneRequest`` of the contract. Unknown members are ignored, as the contract allows."""

    number = StrictCharField(max_length=15, trim_whitespace=False)
    type = serializers.ChoiceField(choices=PhoneType.choices)
    active = StrictBooleanField(required=False, default=True)
    area_code = StrictIntegerField(required=False, min_value=0, max_value=INT32_MAX)
    country_code = StrictIntegerField(required=False, default=55, min_value=0, max_value=99999)
    extension = StrictCharField(required=False, max_length=10, allow_blank=True, trim_whitespace=False)


class PhoneUpdateInput(serializers.Serializer):
    """``PhoneUpdateRequest`` of the contract: every member optional, at least one required."""

    area_code = StrictIntegerField(required=False, min_value=0, max_value=INT32_MAX)
    number = StrictCharField(required=False, max_length=15, trim_whitespace=False)
    type = serializers.ChoiceField(required=False, choices=PhoneType.choices)
    extension = StrictCharField(required=False, max_length=10, allow_blank=True, trim_whitespace=False)
    active = StrictBooleanField(required=False)
    country_code = StrictIntegerField(required=False, min_value=0, max_value=99999)


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
    type = serializers.ChoiceField(required=False, choices=PhoneType.choices)
