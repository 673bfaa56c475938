"""Inputs past what a number can mean: answered 4xx in the contract's shapes, never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["999999999999999999", "9" * 5000])
def test_page_numbers_past_any_offset_are_an_invalid_page(api_client_for, make_operator, page):
    client = api_client_for(make_operator("crm-operator"))
    answer = client.get(f"/accounts/v1/accounts/1/phones?page={page}")
    assert (answer.status_code, answer.json()) == (404, {"message": "Invalid page."})


def test_ids_of_thousands_of_digits_are_a_400(api_client_for, make_operator):
    client = api_client_for(make_operator("crm-operator"))
    answer = client.get(f"/accounts/v1/accounts/{'1' * 5000}/phones/{'2' * 5000}", HTTP_X_CUSTOMER_ID="3" * 5000)
    assert answer.status_code == 400 and answer.json()["field"] == "accountId"
    answer = client.post(
        "/accounts/v1/accounts/1/phones",
        {"number": "1234", "type": "MOBILE"},
        format="json",
        HTTP_X_CUSTOMER_ID="3" * 5000,
    )
    assert answer.status_code == 400 and answer.json()["field"] == "x-customer-id"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        # DRF read these as "the default page size", "at most 500", "no filter", "any": a page the
        # client did not ask for (found by Schemathesis' negative mode against our document).
        ("page_size=abc", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=", "page_size"),
        ("active=maybe", "active"),
        ("active=", "active"),
        ("active=1", "active"),
        ("type=", "type"),
    ],
)
def test_list_parameters_outside_the_document_are_a_400_naming_them(api_client_for, make_operator, query, field):
    client = api_client_for(make_operator("crm-operator"))
    answer = client.get(f"/accounts/v1/accounts/1/phones?{query}")
    assert answer.status_code == 400 and answer.json()["field"] == field, answer.json()


def test_list_parameters_inside_the_document_are_read(api_client_for, make_operator):
    client = api_client_for(make_operator("crm-operator"))
    for query in ("page_size=500", "page_size=1&active=false", "active=true&type=MOBILE&page=last"):
        assert client.get(f"/accounts/v1/accounts/1/phones?{query}").status_code == 200, query
