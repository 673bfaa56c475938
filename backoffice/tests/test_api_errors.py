"""The API's exception handler renders the core's ``ApplicationError`` family in the contract's
shapes, naming fields as the view's ``error_fields`` says."""

from __future__ import annotations

import pytest
from django.http import Http404
from rest_framework import exceptions

from backoffice.api_errors import exception_handler
from backoffice.errors import ApplicationError, InvalidInput, NotAllowed


class View:
    error_fields = {"account_id": "accountId", "customer_id": "x-customer-id"}


class Conflict(ApplicationError):
    status = 409
    message = "Already there"


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("account_id", "accountId"),
        ("customer_id", "x-customer-id"),
        ("account_id.inner", "accountId.inner"),  # mapped by its first part
        ("settings.display_name", "settings.display_name"),  # not mapped: the same name
        ("number", "number"),
    ],
)
def test_invalid_input_is_a_400_naming_the_apis_field(field, shown):
    response = exception_handler(InvalidInput(field, "Bad value."), {"view": View()})
    assert (response.status_code, response.data) == (400, {"message": "Bad value.", "field": shown})


def test_a_view_without_a_mapping_shows_the_domain_name():
    response = exception_handler(InvalidInput("account_id", "Bad value."), {"view": object()})
    assert response.data == {"message": "Bad value.", "field": "account_id"}
    assert exception_handler(InvalidInput("x", "y"), {}).data == {"message": "y", "field": "x"}


def test_other_application_errors_keep_their_status_and_text():
    response = exception_handler(Conflict(), {"view": View()})
    assert (response.status_code, response.data) == (409, {"message": "Already there"})
    response = exception_handler(NotAllowed(), {"view": View()})
    assert (response.status_code, response.data) == (403, {"message": NotAllowed.message})
    assert exception_handler(Conflict("Custom text"), {}).data == {"message": "Custom text"}


def test_drf_and_django_errors_keep_their_shapes():
    parse = exception_handler(exceptions.ParseError("bad"), {})
    assert (parse.status_code, parse.data) == (400, {"message": "Malformed JSON: bad", "field": "body"})
    invalid = exception_handler(exceptions.ValidationError({"number": ["Required."]}), {"view": View()})
    assert invalid.data == {"message": "Required.", "field": "number"}
    assert exception_handler(Http404(), {}).data == {"message": "Not found"}
