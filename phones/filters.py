from __future__ import annotations

import django_filters

from phones.models import Phone, PhoneType


class PhoneFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter()
    type = django_filters.ChoiceFilter(choices=PhoneType.choices)

    class Meta:
        model = Phone
        fields = ["active", "type"]
