"""``InputSerializer``: DRF's validation, with fields copied shallowly per instance."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from phones.api.serializers import PhoneCreateInput, PhoneUpdateInput

BODIES = [
    {"number": "91234-5678", "type": "MOBILE", "area_code": 11},
    {"number": "91234-5678", "type": "MOBILE", "area_code": 11, "country_code": 1, "extension": "", "active": False},
    {"number": 912345678, "type": "MOBILE"},
    {"number": "1" * 16, "type": "FAX", "area_code": "11", "active": "true"},
    {"type": "MOBILE", "extension": None},
    {},
]


def _deep_copying(cls: type[serializers.Serializer]) -> type[serializers.Serializer]:
    # The same declared fields under DRF's own get_fields (a deep copy per instance).
    return type(f"Deep{cls.__name__}", (serializers.Serializer,), dict(cls._declared_fields))


@pytest.mark.parametrize("cls,partial", [(PhoneCreateInput, False), (PhoneUpdateInput, True)])
@pytest.mark.parametrize("body", BODIES)
def test_same_result_and_errors_as_drfs_deep_copy(cls, partial, body):
    ours, drf = cls(data=body, partial=partial), _deep_copying(cls)(data=body, partial=partial)
    assert ours.is_valid() == drf.is_valid()
    assert ours.errors == drf.errors
    if not ours.errors:
        assert ours.validated_data == drf.validated_data


def test_each_instance_binds_its_own_fields_and_the_declared_ones_stay_unbound():
    first, second = PhoneCreateInput(data=BODIES[0]), PhoneCreateInput(data=BODIES[3])
    assert first.fields["number"] is not second.fields["number"]
    assert first.fields["number"].parent is first and second.fields["number"].parent is second
    assert PhoneCreateInput._declared_fields["number"].parent is None
    assert first.is_valid() and not second.is_valid()
    assert set(second.errors) == {"number", "type", "area_code", "active"} and not first.errors
