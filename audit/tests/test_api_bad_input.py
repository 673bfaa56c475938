"""Hand-made cursors and filters at the audit API: a 404 or a 400 naming the parameter, never a
500 (issue 14)."""

from __future__ import annotations

import base64

import pytest

from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator")


@pytest.fixture
def phone(boss):
    return PhoneFactory(actor=boss, account_id=501)


def cursor(position: str) -> str:
    return base64.b64encode(f"p={position}".encode()).decode()


@pytest.mark.parametrize("position", ["abc", "9" * 5000, "\x00", "1e5", "-1", "١٢"])
def test_an_audit_cursor_whose_position_is_not_an_integer_is_a_404(api_client_for, boss, phone, position):
    """DRF's cursor carries the position as text; ``id < 'abc'`` raised a ValueError (500)."""
    answer = api_client_for(boss).get("/audit/v1/entries", {"cursor": cursor(position)})
    assert (answer.status_code, answer.json()) == (404, {"message": "Invalid cursor"})


def test_a_genuine_audit_cursor_still_pages(api_client_for, boss, phone):
    client = api_client_for(boss)
    PhoneFactory(actor=boss, account_id=501)
    first = client.get("/audit/v1/entries", {"page_size": 1}).json()
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["results"][0]["id"] < first["results"][0]["id"]


@pytest.mark.parametrize("parameter", ["phone_id", "account_id"])
def test_audit_filters_of_thousands_of_digits_are_a_400_naming_the_parameter(api_client_for, boss, parameter):
    answer = api_client_for(boss).get("/audit/v1/entries", {parameter: "9" * 5000})
    assert answer.status_code == 400 and answer.json()["field"] == parameter
    assert "1e+50" not in answer.json()["message"]
