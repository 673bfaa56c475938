"""Property-based runs of the contract and of the project's own OpenAPI document (``/api/schema/``).

Both documents, every operation, in Schemathesis' positive and negative modes: the document's
examples, its coverage cases (boundaries, each constraint broken in turn) and at least
``MAX_EXAMPLES`` generated cases per operation, through the WSGI app in-process, derandomized and
without shrinking (a failure is reported as found), so that a run is the same everywhere and
costs a few minutes at most. Every case must answer below 500.

**Our own document**, strictly: every answer's status, content type, headers and body are the
document's (``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
``response_schema_conformance``) and what breaks the document is refused (``negative_data_rejection``).
No allowance: if the API answers something, the document says so. ``positive_data_acceptance`` is
not checked here either: valid-looking data may break rules the document states in words only (a
duplicate is 409, a number must be digits, spaces and ``( ) . -`` and possible for libphonenumber
to be linked, a provider's settings depend on each other, a password must be right).

**The contract**, with only the allowances the contract forces, because it lists fewer answers
than the API must give:
- 404 ``{"message"}``: the contract lists no 404, but a phone id (PATCH) that names no phone of the
  account, or a path that names no resource, can only be "not found"; inventing a 200 or a 422
  would be wrong.
- 401 ``{"message"}`` when Schemathesis itself drops or mangles the token to probe the security
  scheme: the contract declares BearerAuth but no 401. With our valid token there is none.
- ``positive_data_acceptance`` is not checked: data the contract's schema allows may still be
  refused by the rules it states in prose (409 duplicate, 422 inactive phone) or by the number
  rules of DESIGN.md that its schema does not encode (a number of digits, spaces and ``( ) . -``:
  ``"abc"`` is a 400).
403 never happens (the token is a writer's); roles are covered by ``test_api.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backoffice.wsgi import application

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "pismo-phones.openapi.json"
MAX_EXAMPLES = 500
CONFORMANCE = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    # Explicit: the documents' examples and the coverage cases; generate: the random ones. No
    # shrinking, no replay database, no targeting: a failure is reported as found.
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]

contract = schemathesis.openapi.from_path(CONTRACT)
contract.app = application
# The document is for signed-in operators (backoffice.permissions.DocsAccess); read here, at import,
# before any operator exists: what is checked is its content, not who may read it.
with override_settings(API_DOCS_PUBLIC=True):
    own = schemathesis.openapi.from_wsgi("/api/schema/", application)
for schema in (contract, own):
    # No unknown headers or query parameters: HTTP lets a request carry ones the API does not
    # read, and the API ignores them, so sending one is not invalid data to be refused.
    schema.config.generation.update(modes=MODES, allow_extra_parameters=False)

CASES: Counter[str] = Counter()


@pytest.fixture
def auth_headers(make_operator):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from rest_framework_simplejwt.tokens import RefreshToken

    # The raw WSGI app would close the test's transaction-bound connection after each request,
    # as Django's own test client prevents by the same means.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    operator = make_operator("backoffice-operator")
    yield {"Authorization": f"Bearer {RefreshToken.for_user(operator).access_token}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def counted(request):
    """Counts the cases of one operation and checks, once they have all run, that there were at
    least ``MAX_EXAMPLES`` of them: a document change that left Hypothesis little to generate
    would otherwise pass quietly."""
    label = request.node.name
    failed = request.session.testsfailed
    yield label
    if request.session.testsfailed == failed:  # a failure stops the cases: it says more itself
        assert CASES[label] >= MAX_EXAMPLES, f"{label}: only {CASES[label]} cases"


def _contract_allows(case, response, headers) -> bool:
    if response.status_code == 404:
        return True
    if response.status_code == 401:
        # Schemathesis also probes the security scheme with the token left out or mangled.
        return response.request.headers.get("Authorization") != headers["Authorization"]
    return False


@pytest.mark.django_db
@contract.parametrize()
@HYPOTHESIS
def test_contract(case, auth_headers, counted):
    CASES[counted] += 1
    response = case.call(headers=auth_headers)
    assert response.status_code < 500, response.text
    if _contract_allows(case, response, auth_headers):
        content_types = {key.lower(): value for key, value in response.headers.items()}["content-type"]
        assert content_types == ["application/json"], content_types
        assert set(response.json()) == {"message"}
        return
    case.validate_response(response, checks=CONFORMANCE, headers=auth_headers)


@pytest.mark.django_db
@own.include(path_regex="^/(accounts|audit|auth)/").parametrize()
@HYPOTHESIS
def test_own_schema(case, auth_headers, counted):
    CASES[counted] += 1
    # The token endpoints are public: the case's own (absent) credentials are the ones to send.
    headers = {} if case.path.startswith("/auth/") else auth_headers
    response = case.call(headers=headers)
    case.validate_response(response, checks=CONFORMANCE, headers=headers)
