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


INTERNALS = ("{'", "['", "sys.", "int()", "Traceback", "got type", "Error", "<")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "", {"number": "1", "type": {"a": 1}}, "type"),
        ("post", "", {"number": "1", "type": [1, 2]}, "type"),
        ("post", "", {"number": "1", "type": "X" * 100_000}, "type"),
        ("patch", "/{phone}", {"type": {"a": 1}}, "type"),
        ("put", "/{phone}/provider-link", {"provider": {"a": 1}}, "provider"),
        ("put", "/{phone}/provider-link", {"provider": "sinch", "settings": [1]}, "settings"),
        ("put", "/{phone}/provider-link", {"provider": "sinch", "settings": "x"}, "settings"),
    ],
)
def test_error_messages_echo_no_python_reprs(api_client_for, make_operator, method, path, body, field):
    """DRF quoted the input as Python prints it ("{'a': 1}" is not a valid choice), and named
    Python's types ("list"), and echoed a 100,000-character value whole."""
    from phones.tests.factories import PhoneFactory

    operator = make_operator("backoffice-operator")
    phone = PhoneFactory(actor=operator, account_id=9)
    client = api_client_for(operator)
    url = f"/accounts/v1/accounts/9/phones{path.format(phone=phone.pk)}"
    answer = getattr(client, method)(url, body, format="json")
    assert answer.status_code == 400 and answer.json()["field"] == field
    message = answer.json()["message"]
    assert len(message) < 120 and not any(internal in message for internal in INTERNALS), message


def test_a_number_of_thousands_of_digits_in_the_body_names_no_python_internals(api_client_for, make_operator):
    """json.loads refused it with Python's own advice ("use sys.set_int_max_str_digits()")."""
    client = api_client_for(make_operator("crm-operator"))
    body = b'{"number": "1", "type": "MOBILE", "area_code": 1' + b"0" * 5000 + b"}"
    answer = client.post("/accounts/v1/accounts/9/phones", body, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["field"] in ("body", "area_code")
    message = answer.json()["message"]
    assert not any(internal in message for internal in INTERNALS), message


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


@pytest.mark.parametrize(
    ("query", "status"), [("page=01", 404), ("page=007", 404), ("page=", 404), ("page_size=010", 400)]
)
def test_page_parameters_are_integers_as_the_document_writes_them(api_client_for, make_operator, query, status):
    client = api_client_for(make_operator("crm-operator"))
    assert client.get(f"/accounts/v1/accounts/1/phones?{query}").status_code == status
    assert client.get("/accounts/v1/accounts/1/phones?page=1&page_size=10").status_code == 200
