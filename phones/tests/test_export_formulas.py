"""The phones CSV export neutralises spreadsheet formulas (OWASP's CSV injection list: a cell
starting with = + - @ TAB or CR gets a leading apostrophe), with values stored through the
services as an operator could type them."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from phones.admin_export import safe_cell
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db

EXPORT_URL = reverse("admin:phones_phone_export")


@pytest.fixture
def crm_client(client, make_operator):
    operator = make_operator("crm-operator")
    client.force_login(operator)
    return client, operator


def exported(client):
    answer = client.get(EXPORT_URL)
    return list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))


@pytest.mark.parametrize(
    ("number", "extension"),
    [
        ("-1-1", None),  # phone punctuation: a valid number, and a formula to a spreadsheet
        ("-(1)-(1)", None),
        ("12345", "+1-1"),
        ("12346", "=1+1"),
        ("12347", "@SUM(1)"),
        ("12348", "-2+3"),
    ],
)
def test_cells_a_spreadsheet_would_compute_start_with_an_apostrophe(crm_client, number, extension):
    """Before, "-1-1", "+1-1" and "-(1)-(1)" passed as signed numbers and were computed."""
    client, operator = crm_client
    PhoneFactory(actor=operator, number=number, extension=extension)
    (row,) = exported(client)
    assert row["number"] == (f"'{number}" if number[0] in "-+" else number)
    if extension is not None:
        assert row["extension"] == f"'{extension}"
    for column, value in row.items():
        assert not value or value[0] not in "=+-@\t\r", (column, value)


def test_every_string_cell_is_neutralised_by_its_first_character():
    for value in ["=1", "+1", "-1", "@1", "\t=1", "\r=1", "+5511912345678", "+55 11 91234-5678"]:
        assert safe_cell(value) == "'" + value
    for value in ["1-1", "91234-5678", "ext 12", "", "Mobile"]:
        assert safe_cell(value) == value
    assert safe_cell(-1) == -1 and safe_cell(None) is None  # numbers and empties are written as they are
