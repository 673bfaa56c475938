"""Request bodies within bounds (issue 14, "Bad input never breaks it"): a body over the size
limit is a 413 and JSON nested past the depth limit a 400, in the API's shapes, on every
endpoint; nothing is written."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEntry
from backoffice.parsers import MAX_JSON_DEPTH, TOO_DEEP
from phones.models import Phone, ProviderLink, SyncJob
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db

BASE = "/accounts/v1/accounts"


@pytest.fixture
def boss(make_operator):
    """Every API permission: creates, updates, links, re-syncs and reads the audit."""
    return make_operator("backoffice-operator")


@pytest.fixture
def phone(boss):
    return PhoneFactory(actor=boss, account_id=501)


def written():
    """What a refused request must leave as it was."""
    return (
        list(Phone.objects.order_by("id").values_list("id", "number", "extension", "active", "updated_at")),
        AuditEntry.objects.count(),
        ProviderLink.objects.count(),
        SyncJob.objects.count(),
    )


def endpoints(phone):
    item = f"{BASE}/{phone.account_id}/phones/{phone.pk}"
    return [
        ("post", f"{BASE}/{phone.account_id}/phones"),
        ("patch", item),
        ("put", f"{item}/provider-link"),
        ("delete", f"{item}/provider-link"),
        ("post", f"{item}/sync"),
        ("post", f"{BASE}/{phone.account_id}/phones/sync"),
        ("get", f"{BASE}/{phone.account_id}/phones"),
        ("get", "/audit/v1/entries"),
        ("post", "/auth/token"),
        ("post", "/auth/token/refresh"),
        ("post", "/providers/sinch/callback"),
    ]


def test_a_10_mb_body_is_a_413_in_the_apis_shape_on_every_endpoint(api_client_for, boss, phone):
    """It was a 500 (Django's RequestDataTooBig inside DRF) on the API and /auth/token."""
    client = api_client_for(boss)
    body = json.dumps({"number": "1" * (10 * 1024 * 1024), "email": "x", "password": "y"}).encode()
    before = written()
    for method, path in endpoints(phone):
        answer = client.generic(method.upper(), path, body, content_type="application/json")
        assert answer.status_code == 413, (method, path, answer.status_code)
        assert answer["Content-Type"] == "application/json"
        assert set(answer.json()) == {"message"} and "too large" in answer.json()["message"], (method, path)
    assert written() == before


def test_the_parser_bounds_the_body_itself(settings):
    """Defence in depth: a body that reaches the parser (no or a false Content-Length) is read
    no further than the limit."""
    import io

    from backoffice.parsers import BoundedJSONParser, RequestBodyTooLarge

    settings.API_MAX_BODY_BYTES = 100
    with pytest.raises(RequestBodyTooLarge):
        BoundedJSONParser().parse(io.BytesIO(b'{"a": "' + b"1" * 200 + b'"}'), parser_context={})
    assert BoundedJSONParser().parse(io.BytesIO(b'{"a": "1"}'), parser_context={}) == {"a": "1"}


def deep(levels: int, member: str | None = None) -> bytes:
    nested = "[" * levels + "]" * levels
    return (nested if member is None else f'{{"{member}": {nested}}}').encode()


@pytest.mark.parametrize("shape", ["array", "object", "inside a member"])
def test_json_nested_100000_levels_is_a_400_on_every_json_endpoint(api_client_for, boss, phone, shape):
    """A RecursionError in the JSON decoder answered 500 (POST/PATCH of phones, the link PUT,
    /auth/token)."""
    levels = 100_000
    body = {
        "array": deep(levels),
        "object": ('{"a":' * levels + "1" + "}" * levels).encode(),
        "inside a member": deep(levels, "settings"),
    }[shape]
    client = api_client_for(boss)
    item = f"{BASE}/{phone.account_id}/phones/{phone.pk}"
    before = written()
    for method, path in [
        ("post", f"{BASE}/{phone.account_id}/phones"),
        ("patch", item),
        ("put", f"{item}/provider-link"),
        ("post", f"{BASE}/{phone.account_id}/phones/sync"),
        ("post", "/auth/token"),
        ("post", "/auth/token/refresh"),
    ]:
        answer = getattr(client, method)(path, body, content_type="application/json")
        assert (answer.status_code, answer.json()) == (400, {"message": TOO_DEEP, "field": "body"}), (method, path)
    assert written() == before


def test_nesting_within_the_limit_still_parses(api_client_for, boss, phone):
    """The limit leaves room: an ignored member nested to the limit does not stop a create, and
    brackets inside strings are not nesting."""
    client = api_client_for(boss)
    body = json.loads(deep(MAX_JSON_DEPTH - 1, "ignored"))
    body.update({"number": "91234-0000", "type": "MOBILE", "area_code": 11, "extension": "[[[[[["})
    body["note"] = "{" * 100
    answer = client.post(f"{BASE}/{phone.account_id}/phones", body, format="json")
    assert answer.status_code == 200, answer.json()
    too_deep = deep(MAX_JSON_DEPTH + 1)
    answer = client.post(f"{BASE}/{phone.account_id}/phones", too_deep, content_type="application/json")
    assert (answer.status_code, answer.json()) == (400, {"message": TOO_DEEP, "field": "body"})


def test_malformed_json_names_no_python_internals(api_client_for, boss, phone):
    client = api_client_for(boss)
    for body in [b"{nope", b"\xff\xfe\x00", b'{"a": NaN}', b"[" * 40]:
        answer = client.post(f"{BASE}/{phone.account_id}/phones", body, content_type="application/json")
        assert answer.status_code == 400 and answer.json()["field"] == "body", body
        message = answer.json()["message"]
        for internal in ("Traceback", "Error:", "Exception", "codec", "<", "object at 0x"):
            assert internal not in message, (body, message)


@pytest.mark.parametrize("extension", ["1\x1b[31m", "ext.\u202e9", "9\x7f"])
def test_control_and_format_characters_in_an_extension_are_a_400_and_write_nothing(
    api_client_for, boss, phone, extension
):
    """A terminal escape, a bidi override or a DEL, on create and update: the contract's shape
    naming the field, nothing written (they were stored before)."""
    api = api_client_for(boss)
    before = written()
    created = api.post(
        f"{BASE}/{phone.account_id}/phones",
        {"number": "91234-0000", "type": "MOBILE", "extension": extension},
        format="json",
    )
    changed = api.patch(f"{BASE}/{phone.account_id}/phones/{phone.pk}", {"extension": extension}, format="json")
    for response in (created, changed):
        assert response.status_code == 400
        assert response.json() == {"message": "Control and format characters are not allowed.", "field": "extension"}
    assert written() == before


def test_more_query_parameters_than_django_reads_is_a_400_in_the_apis_shape_on_every_endpoint(
    api_client_for, boss, phone, settings
):
    """It was a 500 ("Error listing phone numbers"): Django refuses to parse a query of more than
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` parameters (``TooManyFieldsSent``) inside DRF's view, and
    the API's handler took it for a bug. Found by hand (3,000 parameters), past the fuzzer."""
    client = api_client_for(boss)
    query = "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    before = written()
    for method, path in endpoints(phone):
        answer = client.generic(method.upper(), f"{path}?{query}", b"{}", content_type="application/json")
        if path.startswith("/providers/"):
            assert answer.status_code == 401, answer.status_code  # unsigned: refused before anything is read
            continue
        assert answer.status_code == 400, (method, path, answer.status_code)
        assert answer.json() == {"message": "Too many query parameters.", "field": "query"}, (method, path)
    assert written() == before
