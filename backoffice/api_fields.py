"""Strict JSON fields: the contract's types exactly, no silent coercion ("11" is not 11)."""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import serializers


class InputSerializer(serializers.Serializer):
    """A request body's serializer whose fields are shallow copies of the declared ones.

    DRF deep-copies every declared field per serializer instance, which re-runs each field's
    ``__init__`` (half of a write's ~0.1 ms validation). A shallow copy gets its own binding
    (``parent``, ``field_name``) and shares only what validation reads: validators, choices,
    error messages. For flat bodies of plain fields; nested serializers keep DRF's deep copy.
    """

    # At least this many members (the OpenAPI document's ``minProperties``, ``backoffice.schema``);
    # the rule itself is the domain check's.
    min_members = 0

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else copy.copy(field)
            for name, field in self._declared_fields.items()
        }


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "A valid integer is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "A valid string is required."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be a valid boolean."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# The longest input an error message quotes back; longer ones are cut.
QUOTED_INPUT_MAX = 40


class StrictChoiceField(serializers.ChoiceField):
    """A choice is a string. DRF's message quoted any input as Python prints it (``"{'a': 1}" is
    not a valid choice.``) and whole, however long."""

    default_error_messages = {"invalid": "A valid string is required."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        if data not in self.choice_strings_to_values:
            quoted = data if len(data) <= QUOTED_INPUT_MAX else data[:QUOTED_INPUT_MAX] + "…"
            self.fail("invalid_choice", input=quoted)
        return self.choice_strings_to_values[data]


class JSONObjectField(serializers.DictField):
    """A JSON object; DRF's message named Python's type of anything else (``got type "list"``)."""

    default_error_messages = {"not_a_dict": "Expected a JSON object."}
