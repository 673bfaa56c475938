"""Each operator's language and time zone: defaults, the switch, the preferences page, times in
the operator's zone with its name, and the API left in the contract's words and in UTC.

The suite runs with ``OPERATOR_DEFAULT_LANGUAGE=en`` (pyproject.toml): the wording tests of the
other apps read English. The tests here set the language they are about explicitly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from backoffice.models import User
from phones.models import Phone
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db
BODY = {"area_code": 11, "number": "91234-5678", "type": "MOBILE"}
LANG = re.compile(r'<html[^>]* lang="([a-z-]+)"')


def page_language(response) -> str:
    return LANG.search(response.content.decode()).group(1)


# --- defaults ----------------------------------------------------------------------------------
def test_the_shipped_defaults_are_portuguese_and_sao_paulo():
    # The settings as a deployment reads them, without the suite's override.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPERATOR_DEFAULT_")}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.OPERATOR_DEFAULT_LANGUAGE, settings.OPERATOR_DEFAULT_TIME_ZONE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, "DJANGO_SETTINGS_MODULE": "backoffice.settings", "DEBUG": "true"},
        capture_output=True,
        text=True,
        check=True,
        cwd=django_settings.BASE_DIR,
    )
    assert out.stdout.split() == ["pt-br", "America/Sao_Paulo"]


def test_new_operators_get_the_configured_defaults(settings):
    settings.OPERATOR_DEFAULT_LANGUAGE = "pt-br"
    operator = User.objects.create_user("new@bank.example", "x")
    operator.refresh_from_db()
    assert (operator.language, operator.time_zone) == ("pt-br", "America/Sao_Paulo")
    settings.OPERATOR_DEFAULT_LANGUAGE = "en"
    settings.OPERATOR_DEFAULT_TIME_ZONE = "Europe/Lisbon"
    other = User.objects.create_user("other@bank.example", "x")
    assert (other.language, other.time_zone) == ("en", "Europe/Lisbon")


# --- the admin in the operator's language ---------------------------------------------------------
def test_the_admin_speaks_the_operators_language(client, make_operator):
    operator = make_operator("backoffice-operator", language="pt-br")
    client.force_login(operator)
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert page_language(response) == "pt-br" and response["Content-Language"] == "pt-br"
    operator.language = "en"
    operator.save(update_fields=["language"])
    assert page_language(client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="pt-BR")) == "en"


def test_the_switch_saves_the_operators_choice_and_it_survives_signing_out(make_operator):
    operator = make_operator("backoffice-operator", language="en")
    browser = Client()
    browser.force_login(operator)
    response = browser.post(reverse("operator-language"), {"language": "pt-br", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    operator.refresh_from_db()
    assert operator.language == "pt-br"
    browser.post(reverse("admin:logout"))
    # Another browser (no language cookie): the preference is the operator's, not the browser's.
    elsewhere = Client()
    elsewhere.force_login(operator)
    assert page_language(elsewhere.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")) == "pt-br"


def test_the_switch_changes_no_token_version(make_operator):
    operator = make_operator("backoffice-operator", language="en")
    browser = Client()
    browser.force_login(operator)
    browser.post(reverse("operator-language"), {"language": "pt-br", "next": "/admin/"})
    assert User.objects.get(pk=operator.pk).token_version == operator.token_version


def test_an_operator_who_must_change_their_password_may_switch_language_first(client, make_operator):
    operator = make_operator("backoffice-operator", language="en", password_change_required=True)
    client.force_login(operator)
    change = reverse("admin:password_change")
    response = client.post(reverse("operator-language"), {"language": "pt-br", "next": change})
    assert response.status_code == 302 and response["Location"] == change
    operator.refresh_from_db()
    assert operator.language == "pt-br"
    assert page_language(client.get(change)) == "pt-br"


def test_an_unknown_language_changes_nothing(client, make_operator):
    operator = make_operator("backoffice-operator", language="en")
    client.force_login(operator)
    client.post(reverse("operator-language"), {"language": "fr", "next": "/admin/"})
    operator.refresh_from_db()
    assert operator.language == "en"


def test_the_sign_in_page_follows_the_cookie_then_the_browser(settings):
    settings.OPERATOR_DEFAULT_LANGUAGE = "pt-br"
    login = reverse("admin:login")
    assert page_language(Client().get(login)) == "pt-br"
    assert page_language(Client().get(login, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.8")) == "en"
    assert page_language(Client().get(login, HTTP_ACCEPT_LANGUAGE="pt-BR")) == "pt-br"
    browser = Client()
    response = browser.post(reverse("operator-language"), {"language": "en", "next": login})
    assert response.status_code == 302 and response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert page_language(browser.get(login, HTTP_ACCEPT_LANGUAGE="pt-BR")) == "en"
    assert 'id="language-switch"' in browser.get(login).content.decode()


# --- the preferences page -------------------------------------------------------------------------
def test_an_operator_sets_their_own_language_and_time_zone(client, make_operator):
    operator = make_operator("crm-operator", language="en")
    client.force_login(operator)
    page = client.get(reverse("operator-preferences"))
    assert page.status_code == 200 and 'id="preferences-form"' in page.content.decode()
    response = client.post(reverse("operator-preferences"), {"language": "pt-br", "time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    operator.refresh_from_db()
    assert (operator.language, operator.time_zone) == ("pt-br", "Asia/Tokyo")
    assert "Suas preferências foram salvas." in client.get(response["Location"]).content.decode()


def test_nobody_sets_anothers_preferences(client, make_operator):
    manager = make_operator("itibackoffice-master", language="en")
    other = make_operator("crm-operator", language="en", time_zone="America/Sao_Paulo")
    client.force_login(manager)
    # The page takes no operator: whatever names another is ignored, the signed-in one changes.
    client.post(
        reverse("operator-preferences") + f"?id={other.pk}",
        {"language": "pt-br", "time_zone": "Asia/Tokyo", "id": other.pk, "email": other.email},
    )
    other.refresh_from_db()
    manager.refresh_from_db()
    assert (other.language, other.time_zone) == ("en", "America/Sao_Paulo")
    assert (manager.language, manager.time_zone) == ("pt-br", "Asia/Tokyo")


def test_an_unknown_time_zone_is_refused(client, make_operator):
    operator = make_operator("crm-operator", language="en")
    client.force_login(operator)
    response = client.post(reverse("operator-preferences"), {"language": "en", "time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    operator.refresh_from_db()
    assert operator.time_zone == "America/Sao_Paulo"


def test_the_preferences_page_needs_a_signed_in_operator():
    response = Client().get(reverse("operator-preferences"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_the_user_menu_links_to_preferences_and_both_languages(client, make_operator):
    client.force_login(make_operator("crm-operator", language="en"))
    page = client.get(reverse("admin:index")).content.decode()
    assert reverse("operator-preferences") in page and reverse("admin:password_change") in page
    assert f'action="{reverse("operator-language")}"' in page
    assert 'value="pt-br"' in page and 'value="en"' in page


# --- times in the operator's zone, named ----------------------------------------------------------
def test_times_are_shown_in_the_operators_zone_with_its_name(client, make_operator, monkeypatch):
    operator = make_operator("backoffice-operator", language="pt-br", time_zone="America/Sao_Paulo")
    with monkeypatch.context() as clock:  # audit entries are append-only: the entry is made at this time
        clock.setattr("django.utils.timezone.now", lambda: datetime(2026, 12, 6, 17, 5, 9, tzinfo=UTC))
        PhoneFactory(account_id=555, actor=operator)
    assert AuditEntry.objects.get().created_at == datetime(2026, 12, 6, 17, 5, 9, tzinfo=UTC)
    client.force_login(operator)
    url = reverse("admin:audit_auditentry_changelist")
    assert "06/12/2026 14:05:09 (America/Sao_Paulo)" in client.get(url).content.decode()
    operator.time_zone = "Asia/Tokyo"
    operator.language = "en"
    operator.save(update_fields=["time_zone", "language"])
    page = client.get(url).content.decode()
    assert "2026-12-07 02:05:09 (Asia/Tokyo)" in page and "(America/Sao_Paulo)" not in page


# --- the API: the contract's words, whatever the operator's language or the caller's headers ------
@pytest.fixture
def portuguese_crm(make_operator):
    return make_operator("crm-operator", language="pt-br")


@pytest.mark.parametrize("accept_language", [None, "pt-BR", "pt-BR,pt;q=0.9"])
def test_the_api_answers_the_contracts_messages_whatever_the_language(api_client_for, portuguese_crm, accept_language):
    api = api_client_for(portuguese_crm)
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    url = "/accounts/v1/accounts/32422/phones"
    assert api.post(url, BODY, format="json", **headers).status_code == 200
    duplicate = api.post(url, BODY, format="json", **headers)
    assert duplicate.status_code == 409 and duplicate.json() == {"message": "Phone number already exists"}
    phone = Phone.objects.get()
    assert api.patch(f"{url}/{phone.pk}", {"active": False}, format="json", **headers).status_code == 200
    inactive = api.patch(f"{url}/{phone.pk}", {"type": "COMMERCIAL"}, format="json", **headers)
    assert inactive.status_code == 422 and inactive.json() == {"message": "Can't update an inactive phone number"}
    # DRF's and Django's own messages (translated in their catalogues) stay English too.
    missing = api.post(url, {"type": "MOBILE"}, format="json", **headers)
    assert missing.status_code == 400 and "required" in missing.json()["message"]
    assert api.get("/accounts/v1/nowhere", **headers).json() == {"message": "Not found"}
    assert "Content-Language" not in duplicate


def test_the_api_keeps_utc_after_the_admin_served_another_zone(client, api_client_for, make_operator):
    operator = make_operator("crm-operator", language="pt-br", time_zone="Asia/Tokyo")
    phone = PhoneFactory(account_id=32422, actor=operator)
    client.force_login(operator)
    client.get(reverse("admin:index"))  # this thread has served the admin in Tokyo time, in Portuguese
    body = api_client_for(operator).get(f"/accounts/v1/accounts/32422/phones/{phone.pk}").json()
    assert body["created_at"].endswith(("Z", "+00:00"))


def test_a_browser_session_on_the_api_gets_the_contracts_messages(client, make_operator):
    operator = make_operator("crm-operator", language="pt-br")
    client.force_login(operator)
    client.get(reverse("admin:index"))
    response = client.get("/accounts/v1/accounts/1/phones/999999999", HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert response.status_code == 404 and response.json() == {"message": "Phone not found"}


def _queries(make_request) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        make_request()
    return [query["sql"] for query in captured]


def test_the_middleware_adds_no_query_to_the_api_or_the_admin(settings, make_operator, api_client_for):
    operator = make_operator("crm-operator", language="pt-br", time_zone="Asia/Tokyo")
    phone = PhoneFactory(account_id=32422, actor=operator)
    url = f"/accounts/v1/accounts/32422/phones/{phone.pk}"
    api = api_client_for(operator)
    api.get(url)  # warms the role matrix
    admin = Client()
    admin.force_login(operator)
    admin.get(reverse("admin:index"))
    with_it = (_queries(lambda: api.get(url)), _queries(lambda: admin.get(reverse("admin:index"))))
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "backoffice.operator_locale.OperatorLocaleMiddleware"]
    api, admin = APIClient(), Client()
    api.credentials(**api_client_for(operator)._credentials)
    admin.force_login(operator)
    admin.get(reverse("admin:index"))
    without = (_queries(lambda: api.get(url)), _queries(lambda: admin.get(reverse("admin:index"))))
    assert len(with_it[0]) == len(without[0])
    assert len(with_it[1]) == len(without[1])
