from __future__ import annotations

import django_filters

from backoffice.api_filters import BooleanFilter
from phones.models import Phone, PhoneType


class PhoneFilter(django_filters.FilterSet):
    active = BooleanFilter()
    type = django_filters.ChoiceFilter(choices=PhoneType.choices)

    class Meta:
        model = Phone
        fields = ["active", "type"]
