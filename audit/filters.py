from __future__ import annotations

from typing import Any

import django_filters
from django import forms

from audit.models import AuditEntry, AuditEvent, Origin
from backoffice.errors import InvalidInput
from backoffice.ids import parse_id


class IdField(forms.Field):
    """An id typed as text: what ``backoffice.ids.parse_id`` accepts, with its message (a
    decimal field took 5,000 digits and answered "less than or equal to 1e+50")."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            return parse_id(str(value), "id")
        except InvalidInput as error:
            raise forms.ValidationError(error.message, code="invalid") from None


class IdFilter(django_filters.NumberFilter):
    """A number filter (so documented as one) whose value is an id."""

    field_class = IdField

    def get_max_validator(self) -> None:
        return None


class AuditEntryFilter(django_filters.FilterSet):
    phone_id = IdFilter(field_name="phone_id")
    account_id = IdFilter(field_name="account_id")
    event = django_filters.ChoiceFilter(choices=AuditEvent.choices)
    email = django_filters.CharFilter(field_name="operator_email", lookup_expr="iexact")
    origin = django_filters.ChoiceFilter(choices=Origin.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = [
            "phone_id",
            "account_id",
            "event",
            "email",
            "origin",
            "created_after",
            "created_before",
        ]
