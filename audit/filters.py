from __future__ import annotations

import django_filters

from audit.models import AuditEntry, AuditEvent, Origin
from backoffice.api_filters import IdFilter


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
