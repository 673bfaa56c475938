"""The project's own OpenAPI document (``/api/schema/``): valid OpenAPI 3.1, the contract's paths
and parameters exactly, and every parameter and answer the API has, with their types and bounds.
Schemathesis (``phones/tests/test_schemathesis.py``) then holds the API to this document."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from backoffice.ids import INT64_MAX

CONTRACT = json.loads(
    (Path(__file__).resolve().parents[3] / "shared" / "contracts" / "pismo-phones.openapi.json").read_text()
)
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX}
METHODS = {"get", "post", "put", "patch", "delete"}
# Parameters we add to a contract operation, each optional: a caller of the contract never needs
# them. If-Match on an update, for tools that want it (a stale one is a 412; README).
OPTIONAL_ADDITIONS = {("patch", "/accounts/v1/accounts/{accountId}/phones/{phoneId}"): {("header", "If-Match")}}


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict:
    from django.test import Client, override_settings

    # The document is for signed-in operators (test_hardening checks who may read it); here, what
    # it says.
    with django_db_blocker.unblock(), override_settings(API_DOCS_PUBLIC=True):
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _deref(document: dict, node: dict) -> dict:
    """``node`` with its ``$ref`` (if any) followed inside ``document``."""
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _parameters(document: dict, operation: dict) -> dict[tuple[str, str], dict]:
    params = [_deref(document, parameter) for parameter in operation.get("parameters", [])]
    keyed = {(p["in"], p["name"]): p for p in params}
    assert len(keyed) == len(params), f"a parameter is declared twice: {[(p['in'], p['name']) for p in params]}"
    return keyed


def test_the_document_is_valid_openapi_3_1(document):
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"].startswith("3.1")


def test_the_contracts_operations_are_there_with_its_paths_and_parameters(document):
    for path, item in CONTRACT["paths"].items():
        assert path in document["paths"], f"{path} is the contract's path"
        for method, contract_operation in item.items():
            ours = document["paths"][path][method]
            assert ours["operationId"] == contract_operation["operationId"]
            theirs = _parameters(CONTRACT, contract_operation)
            mine = _parameters(document, ours)
            added = OPTIONAL_ADDITIONS.get((method, path), set())
            assert set(mine) - added == set(theirs), f"{method.upper()} {path}"
            assert all(mine[key].get("required", False) is False for key in added), f"{method.upper()} {path}"
            for key, parameter in theirs.items():
                assert mine[key].get("required", False) == parameter.get("required", False)
                for keyword in ("type", "format", "minimum"):
                    if keyword in parameter["schema"]:
                        assert mine[key]["schema"][keyword] == parameter["schema"][keyword], (key, keyword)
            for status in contract_operation["responses"]:
                assert status in ours["responses"], f"{method.upper()} {path} lacks the contract's {status}"


def test_every_path_parameter_is_declared_once_as_a_bounded_integer(document):
    for path, method, operation in _operations(document):
        in_path = re.findall(r"{([^}]+)}", path)
        declared = [name for (where, name) in _parameters(document, operation) if where == "path"]
        assert sorted(declared) == sorted(in_path), f"{method.upper()} {path}: {declared}"
        for name in in_path:
            parameter = _parameters(document, operation)["path", name]
            assert parameter["required"] is True
            bounds = {k: v for k, v in parameter["schema"].items() if k in ID_SCHEMA}
            assert bounds == ID_SCHEMA, f"{method.upper()} {path} {name}: {parameter['schema']}"
    paths = set(document["paths"])
    assert "/accounts/v1/accounts/{accountId}/phones/{phoneId}/provider-link" in paths
    assert "/accounts/v1/accounts/{accountId}/phones/sync" in paths
    assert "/audit/v1/entries/{entryId}" in paths
    assert {"/auth/token", "/auth/token/refresh", "/auth/logout"} <= paths


def test_the_customer_header_is_a_bounded_optional_integer(document):
    operation = document["paths"]["/accounts/v1/accounts/{accountId}/phones"]["post"]
    header = _parameters(document, operation)["header", "x-customer-id"]
    assert header.get("required", False) is False
    assert {k: v for k, v in header["schema"].items() if k in ID_SCHEMA} == ID_SCHEMA


def test_a_phones_etag_and_if_match_are_documented(document):
    """Tools may update a phone only at the version they read: the ETag of a read and of an update,
    the optional If-Match of an update and its 412 are in the document (Schemathesis holds the API
    to them)."""
    item = document["paths"]["/accounts/v1/accounts/{accountId}/phones/{phoneId}"]
    for method in ("get", "patch"):
        etag = item[method]["responses"]["200"]["headers"]["ETag"]
        assert (etag["required"], etag["schema"]["type"]) == (True, "string"), method
    if_match = _parameters(document, item["patch"])["header", "If-Match"]
    assert if_match.get("required", False) is False and if_match["schema"]["type"] == "string"
    assert _error_schema(document, item["patch"]["responses"]["412"]) == "SimpleError"
    assert "If-Match" not in {name for _, name in _parameters(document, item["get"])}


def _query(document: dict, path: str) -> dict[str, dict]:
    operation = document["paths"][path]["get"]
    return {name: p["schema"] for (where, name), p in _parameters(document, operation).items() if where == "query"}


def test_the_phone_lists_filters_and_pages_are_documented(document):
    query = _query(document, "/accounts/v1/accounts/{accountId}/phones")
    assert set(query) == {"active", "type", "page", "page_size"}
    assert query["active"]["type"] == "boolean"
    assert set(query["type"]["enum"]) == {"RESIDENTIAL", "COMMERCIAL", "MOBILE"}
    assert {"type": "integer", "minimum": 1} in query["page"]["oneOf"]
    assert {"type": "string", "enum": ["last"]} in query["page"]["oneOf"]
    assert (query["page_size"]["type"], query["page_size"]["minimum"], query["page_size"]["maximum"]) == (
        "integer",
        1,
        500,
    )


def test_the_audit_lists_filters_and_cursor_are_documented(document):
    query = _query(document, "/audit/v1/entries")
    assert set(query) == {
        "cursor",
        "page_size",
        "phone_id",
        "account_id",
        "event",
        "email",
        "origin",
        "created_after",
        "created_before",
    }
    assert query["cursor"]["type"] == "string"
    assert (query["page_size"]["minimum"], query["page_size"]["maximum"]) == (1, 500)
    for name in ("phone_id", "account_id"):
        assert {k: v for k, v in query[name].items() if k in ID_SCHEMA} == ID_SCHEMA
    assert set(query["origin"]["enum"]) == {"CRM", "API", "COMMAND", "TASK"}
    assert "phone_creation" in query["event"]["enum"]
    assert query["created_after"]["format"] == query["created_before"]["format"] == "date-time"


def _error_schema(document: dict, response: dict) -> str:
    schema = response["content"]["application/json"]["schema"]
    return schema["$ref"].rsplit("/", 1)[-1]


def test_every_operation_documents_its_errors_in_the_contracts_shapes(document):
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        expected = {"400", "500"}
        if path.startswith("/auth/"):
            assert not operation.get("security", [{}])[0], f"{label} is public"
        else:
            expected |= {"401", "403"}
        if "{" in path or method == "get":  # an unknown id, page or cursor
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"413", "415"}
        assert expected <= set(responses), f"{label} documents {sorted(responses)}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                shape = _error_schema(document, response)
                assert shape == ("BadRequestError" if status == "400" else "SimpleError"), (label, status)
    errors = document["components"]["schemas"]
    assert set(errors["BadRequestError"]["required"]) == {"message", "field"}
    assert errors["SimpleError"]["required"] == ["message"]


def test_the_token_endpoints_are_public_and_document_their_answers(document):
    token = document["paths"]["/auth/token"]["post"]
    assert not token.get("security", [{}])[0] and not document.get("security", [{}])[0]
    assert {"200", "400", "401", "413", "415", "429", "500"} <= set(token["responses"])
    body = _deref(document, token["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["required"]) == {"email", "password"}
    refresh = document["paths"]["/auth/token/refresh"]["post"]
    assert not refresh.get("security", [{}])[0]
    assert {"200", "400", "401", "413", "415", "500"} <= set(refresh["responses"])
    # A refresh answers a new pair: the refresh token given is used up.
    pair = _deref(document, refresh["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(pair["required"]) == {"access", "refresh"}


def test_the_logout_is_public_and_documents_its_answers(document):
    logout = document["paths"]["/auth/logout"]["post"]
    assert not logout.get("security", [{}])[0]
    assert set(logout["responses"]) == {"204", "400", "401", "413", "415", "500"}
    assert "content" not in logout["responses"]["204"]
    body = _deref(document, logout["requestBody"]["content"]["application/json"]["schema"])
    assert body["required"] == ["refresh"]
