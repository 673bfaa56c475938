"""Strict query filters for the API lists: a filter given is a filter used, or a 400 naming it.

django-filter reads query strings the way HTML forms send them: an empty value means "not
filtering", ``active=maybe`` means "any", ``phone_id=1.5`` filters on 1. An API client that
sends these made a mistake; answering a page it did not ask for hides it. The OpenAPI document
declares these filters' types exactly, and Schemathesis sends every kind of wrong value.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from rest_framework import exceptions

from backoffice.errors import InvalidInput
from backoffice.ids import INT64_MAX, parse_id

_BOOLEANS = {"true": True, "false": False}


class _BooleanField(forms.Field):
    """``true`` or ``false``, as OpenAPI serializes a boolean in a query string."""

    def to_python(self, value: Any) -> bool | None:
        if value is None:
            return None
        if value not in _BOOLEANS:
            raise forms.ValidationError("Must be true or false.", code="invalid")
        return _BOOLEANS[value]


class _IdField(forms.Field):
    """An id as ``backoffice.ids.parse_id`` reads it: int64 >= 1 in ASCII digits."""

    def to_python(self, value: Any) -> int | None:
        if value is None:
            return None
        try:
            return parse_id(value, "")
        except InvalidInput:
            raise forms.ValidationError(
                f"Ensure this value is an integer between 1 and {INT64_MAX}.", code="invalid"
            ) from None


class BooleanFilter(django_filters.BooleanFilter):
    field_class = _BooleanField


class IdFilter(django_filters.Filter):
    field_class = _IdField


def _valid(
    filterset_class: type[django_filters.FilterSet], params: QueryDict, queryset: QuerySet
) -> django_filters.FilterSet:
    for name in filterset_class.base_filters:
        if name in params and not params[name].strip():
            raise InvalidInput(name, "This field may not be blank.")
    filterset = filterset_class(params, queryset=queryset)
    if not filterset.is_valid():
        raise exceptions.ValidationError(filterset.errors)
    return filterset


def filtered(filterset_class: type[django_filters.FilterSet], params: QueryDict, queryset: QuerySet) -> QuerySet:
    """``queryset`` narrowed by the filters in ``params``; a filter given empty or invalid is a
    400 naming it (the first, in the filter set's order)."""
    return _valid(filterset_class, params, queryset).qs


def cleaned_filters(filterset_class: type[django_filters.FilterSet], params: QueryDict) -> dict[str, Any]:
    """The filters' cleaned values by the same rules, for a view that queries by other means."""
    return _valid(filterset_class, params, filterset_class._meta.model.objects.none()).form.cleaned_data
