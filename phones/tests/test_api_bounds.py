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
