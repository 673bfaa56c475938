"""Headers and access rules that bad or hostile callers meet (issue 14): the Content-Security-
Policy, ``Cache-Control: no-store`` on the API, the API's description for operators only, the
lockout keyed by the address the app trusts and answered in JSON without templates."""

from __future__ import annotations

import pytest
from django.template import TemplateSyntaxError
from django.test import Client

from backoffice.middleware import LOCKED_OUT
from backoffice.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


# --- Content-Security-Policy ---------------------------------------------------------------------


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/phones/phone/", "/api/docs/"])
def test_every_html_page_carries_a_content_security_policy(client, make_operator, path):
    if path != "/admin/login/":
        client.force_login(make_operator("backoffice-operator"))
    response = client.get(path)
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'", "'unsafe-eval'"]  # no inline script, no other host
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"] and policy["base-uri"] == ["'self'"]


def test_answers_that_are_not_documents_get_a_policy_that_allows_nothing(api_client_for, make_operator, client):
    """The API's JSON, errors included, and Swagger UI's script: a fixed policy, not the pages' one
    (built per answer, it cost a sixth of a GET of one phone)."""
    crm = make_operator("crm-operator")
    api = api_client_for(crm)
    created = api.post("/accounts/v1/accounts/7/phones", {"number": "91234-5678", "type": "MOBILE"}, format="json")
    for response in (
        created,
        api.get(f"/accounts/v1/accounts/7/phones/{created.json()['id']}"),
        api.get("/accounts/v1/accounts/7/phones/999999"),
        Client().get("/accounts/v1/accounts/7/phones"),
    ):
        assert response["Content-Type"].startswith("application/json")
        assert directives(response["Content-Security-Policy"]) == {
            "default-src": ["'none'"],
            "frame-ancestors": ["'none'"],
        }
    client.force_login(crm)
    script = client.get("/api/docs/?script=")
    assert directives(script["Content-Security-Policy"])["default-src"] == ["'none'"]
    # A page keeps the whole policy.
    assert directives(client.get("/admin/")["Content-Security-Policy"])["script-src"] == ["'self'", "'unsafe-eval'"]


def test_the_api_docs_page_has_no_inline_script(client, make_operator):
    """Swagger UI's start-up script is served from a URL of its own, which the policy allows."""
    client.force_login(make_operator("treasury-operator"))
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page and 'src="/api/docs/?script="' in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


# --- Cache-Control: no-store on every API answer ------------------------------------------------


def assert_not_stored(response) -> None:
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"], response


def test_api_answers_are_never_stored_errors_included(api_client_for, make_operator):
    crm = make_operator("crm-operator")
    client = api_client_for(crm)
    created = client.post("/accounts/v1/accounts/7/phones", {"number": "91234-5678", "type": "MOBILE"}, format="json")
    assert created.status_code == 200
    assert_not_stored(created)
    assert_not_stored(client.get("/accounts/v1/accounts/7/phones"))
    assert_not_stored(client.get(f"/accounts/v1/accounts/7/phones/{created.json()['id']}"))
    assert_not_stored(client.get("/accounts/v1/accounts/7/phones/999999"))  # 404 from the view
    assert_not_stored(client.get("/accounts/v1/nowhere"))  # 404 from the URLconf
    assert_not_stored(client.post("/accounts/v1/accounts/7/phones", {"type": "MOBILE"}, format="json"))  # 400
    assert_not_stored(Client().get("/accounts/v1/accounts/7/phones"))  # 401
    assert_not_stored(client.get("/audit/v1/entries"))
    token = Client().post("/auth/token", {"email": crm.email, "password": PASSWORD}, content_type="application/json")
    assert token.status_code == 200 and "access" in token.json()
    assert_not_stored(token)


# --- The API's description: signed-in operators only --------------------------------------------


def test_anonymous_callers_get_no_api_description(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 401
    assert schema["Content-Type"].startswith("application/json")
    assert set(schema.json()) == {"message"}
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"] == "/admin/login/?next=/api/docs/"
    assert client.get("/api/docs/?script=").status_code == 302


def test_a_bad_bearer_token_gets_no_api_description(client):
    schema = client.get("/api/schema/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert schema.status_code == 401 and set(schema.json()) == {"message"}


def test_signed_in_operators_read_the_api_description(client, make_operator, api_client_for):
    operator = make_operator("treasury-operator")
    by_token = api_client_for(operator).get("/api/schema/?format=json")
    assert by_token.status_code == 200 and by_token.json()["info"]["title"] == "Phone backoffice API"
    client.force_login(operator)
    assert client.get("/api/schema/?format=json").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_api_docs_public_opens_them_to_everybody(client, settings):
    settings.API_DOCS_PUBLIC = True
    assert client.get("/api/schema/?format=json").status_code == 200
    assert client.get("/api/docs/").status_code == 200


# --- The lockout: keyed by the trusted client address, answered without templates ---------------


def sign_in(client: Client, email: str, password: str, forwarded: str, remote: str = "10.0.0.1"):
    return client.post(
        "/auth/token",
        {"email": email, "password": password},
        content_type="application/json",
        HTTP_X_FORWARDED_FOR=forwarded,
        REMOTE_ADDR=remote,
    )


def test_behind_one_proxy_a_forged_forwarded_header_locks_out_only_its_sender(make_operator, settings):
    """The proxy appends the address it was called from. An attacker who writes the operator's
    address into X-Forwarded-For is still known by the address the proxy saw."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 3
    operator = make_operator("crm-operator", email="victim@bank.example")
    attacker = Client()
    for _ in range(3):
        # The attacker (203.0.113.9) claims to be the operator (198.51.100.7).
        sign_in(attacker, operator.email, "wrong", forwarded="198.51.100.7, 203.0.113.9")
    assert sign_in(attacker, operator.email, PASSWORD, forwarded="203.0.113.9").status_code == 429
    # The operator, at its own address, behind the same proxy, signs in.
    assert sign_in(Client(), operator.email, PASSWORD, forwarded="198.51.100.7").status_code == 200


def test_behind_the_proxy_clients_are_not_one_address(make_operator, settings):
    """Every request reaches the app from the proxy (one REMOTE_ADDR): keyed by it, one client's
    failures would lock the operator out everywhere."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 3
    operator = make_operator("crm-operator", email="roaming@bank.example")
    for _ in range(3):
        sign_in(Client(), operator.email, "wrong", forwarded="203.0.113.9")
    assert sign_in(Client(), operator.email, PASSWORD, forwarded="198.51.100.7").status_code == 200


def test_without_proxies_the_forwarded_header_is_ignored(make_operator, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.AXES_FAILURE_LIMIT = 3
    operator = make_operator("crm-operator", email="direct@bank.example")
    for hop in range(3):
        # Rotating a forged header does not dodge the lockout of REMOTE_ADDR.
        sign_in(Client(), operator.email, "wrong", forwarded=f"192.0.2.{hop}", remote="203.0.113.9")
    assert sign_in(Client(), operator.email, PASSWORD, forwarded="192.0.2.77", remote="203.0.113.9").status_code == 429


def test_the_apis_lockout_is_json_even_with_a_broken_template(make_operator, settings, monkeypatch):
    settings.AXES_FAILURE_LIMIT = 2

    def broken(*args, **kwargs):
        raise TemplateSyntaxError("a broken lockout template")

    # Whatever a template would do, the API's answer must not depend on it.
    for name in ("axes.helpers.render", "backoffice.auth.render", "django.shortcuts.render"):
        monkeypatch.setattr(name, broken, raising=False)
    operator = make_operator("crm-operator", email="json@bank.example")
    client = Client()
    for _ in range(2):
        sign_in(client, operator.email, "wrong", forwarded="")
    locked = sign_in(client, operator.email, PASSWORD, forwarded="")
    assert locked.status_code == 429
    assert locked.json() == {"message": LOCKED_OUT}
