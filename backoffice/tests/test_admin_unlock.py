"""A locked-out operator's way out: an operator manager (or a superuser) lifts the lockout from the
operator's page or the list, within the password reset's limits, and the audit trail says who
unlocked whom, once."""

from __future__ import annotations

import re

import jsonschema
import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from audit.events import event_schema
from audit.models import AuditEntry, AuditEvent
from backoffice.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
LIST = reverse("admin:backoffice_user_changelist")


@pytest.fixture(autouse=True)
def _password_only_sign_in(settings):
    settings.MFA_REQUIRED_PERMISSIONS = []  # the lockout is the subject, not the second step
    settings.AXES_FAILURE_LIMIT = 2


def unlock_url(operator) -> str:
    return reverse("admin:backoffice_user_unlock", args=[operator.pk])


def lock_out(email: str, *, typed: str | None = None, address: str = "10.0.0.1") -> Client:
    """Fail the sign-in until axes locks it, as a browser from ``address`` would."""
    browser = Client(REMOTE_ADDR=address)
    for _ in range(2):
        browser.post(LOGIN, {"username": typed or email, "password": "wrong-secret"})
    assert browser.post(LOGIN, {"username": email, "password": PASSWORD}).status_code == 429
    return browser


def unlocked_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(event=AuditEvent.OPERATOR_UNLOCKED).order_by("id"))


@pytest.fixture
def jane(make_operator):
    return make_operator("crm-operator", email="jane@bank.example")


@pytest.fixture
def master(make_operator):
    return make_operator("itibackoffice-master", email="master@bank.example")


def test_a_manager_unlocks_an_operator_from_its_page(client, master, jane):
    """Failed before: nothing could unlock (the lockout page's advice led nowhere)."""
    browser = lock_out("jane@bank.example")
    lock_out("jane@bank.example", typed="JANE@Bank.Example", address="10.0.0.2")  # another address and spelling
    AccessAttempt.objects.create(  # a record from before the emails were folded (a capital kept)
        username="Jane@Bank.example",
        ip_address="10.0.0.3",
        user_agent="old",
        failures_since_start=1,
        get_data="",
        post_data="",
        http_accept="",
        path_info=LOGIN,
    )
    client.force_login(master)

    listing = client.get(LIST).content.decode()
    assert listing.count("Locked out") == 1  # jane's row; master is not locked out
    page = client.get(reverse("admin:backoffice_user_change", args=[jane.pk])).content.decode()
    assert 'id="unlock-link"' in page and unlock_url(jane) in page
    confirm = client.get(unlock_url(jane))
    assert confirm.status_code == 200 and "Unlock the sign-in of jane@bank.example?" in confirm.content.decode()
    assert not AuditEntry.objects.filter(event=AuditEvent.OPERATOR_UNLOCKED).exists()  # a GET changes nothing

    failures = sum(
        AccessAttempt.objects.filter(username__iexact="jane@bank.example").values_list(
            "failures_since_start", flat=True
        )
    )
    response = client.post(unlock_url(jane))
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username__iexact="jane@bank.example").exists()
    [entry] = unlocked_entries()  # one entry, not one per attempt record deleted
    assert (entry.operator_id, entry.operator_email, entry.origin) == (master.pk, "master@bank.example", "CRM")
    assert entry.payload["object"] == {
        "operator_id": jane.pk,
        "email": "jane@bank.example",
        "roles": ["crm-operator"],
        "failures": failures,  # every address and spelling cleared
    }
    jsonschema.validate(entry.payload, event_schema(AuditEvent.OPERATOR_UNLOCKED))
    # Signing in works again, from where it was locked.
    assert browser.post(LOGIN, {"username": "jane@bank.example", "password": PASSWORD}).status_code == 302
    assert "Locked out" not in client.get(LIST).content.decode()


def test_the_list_action_unlocks_and_reports_who_it_could_not(client, master, jane, make_operator):
    peer = make_operator("itibackoffice-master", email="peer@bank.example")
    lock_out("jane@bank.example")
    lock_out("peer@bank.example")
    client.force_login(master)
    response = client.post(LIST, {"action": "unlock_selected", "_selected_action": [jane.pk, peer.pk]}, follow=True)
    text = response.content.decode()
    assert "Unlocked jane@bank.example" in text
    assert "Only a superuser can unlock a superuser or an operator who manages operators: peer@bank.example" in text
    assert not AccessAttempt.objects.filter(username="jane@bank.example").exists()
    assert AccessAttempt.objects.filter(username="peer@bank.example").exists()
    assert [entry.payload["object"]["email"] for entry in unlocked_entries()] == ["jane@bank.example"]


@pytest.mark.parametrize("who", ["peer manager", "superuser", "itself"])
def test_a_manager_cannot_unlock_a_manager_or_a_superuser(client, master, make_operator, caplog, who):
    target = {
        "peer manager": lambda: make_operator("itibackoffice-master", email="peer@bank.example"),
        "superuser": lambda: make_operator(is_superuser=True, email="root@bank.example"),
        "itself": lambda: master,
    }[who]()
    lock_out(target.email, address="10.9.9.9")
    client.force_login(master)
    page = client.get(reverse("admin:backoffice_user_change", args=[target.pk])).content.decode()
    assert 'id="unlock-link"' not in page
    assert client.get(unlock_url(target)).status_code == 403
    assert client.post(unlock_url(target)).status_code == 403
    assert AccessAttempt.objects.filter(username=target.email).exists()
    assert unlocked_entries() == []
    assert "denied operator=master@bank.example permission=backoffice.change_user" in caplog.text


def test_a_superuser_unlocks_a_manager(client, make_operator):
    peer = make_operator("itibackoffice-master", email="peer@bank.example")
    lock_out("peer@bank.example")
    client.force_login(make_operator(is_superuser=True, email="root@bank.example"))
    assert client.post(unlock_url(peer)).status_code == 302
    assert not AccessAttempt.objects.filter(username="peer@bank.example").exists()
    assert unlocked_entries()[0].payload["object"]["operator_id"] == peer.pk


def test_operators_without_the_right_cannot_unlock(client, jane, make_operator):
    lock_out("jane@bank.example")
    client.force_login(make_operator("backoffice-operator", email="bo@bank.example"))
    assert client.post(unlock_url(jane)).status_code == 403
    assert AccessAttempt.objects.filter(username="jane@bank.example").exists()


def test_unlocking_an_operator_that_is_not_locked_records_nothing(client, master, jane):
    client.force_login(master)
    assert client.post(unlock_url(jane), follow=True).status_code == 200
    assert unlocked_entries() == []


def test_the_lockout_page_says_how_long_in_words_and_who_can_unlock(jane, settings):
    """Failed before: "locked for PT15M" (axes' ISO 8601), and "ask an operator manager" with no way
    for one to unlock."""
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    page = lock_out("jane@bank.example").post(LOGIN, {"username": "jane@bank.example", "password": "x"})
    text = " ".join(page.content.decode().split())
    assert "sign-in is locked for 15 minutes." in text and "PT15M" not in text
    assert "ask an operator manager to unlock your account" in text
    settings.AXES_COOLOFF_TIME = timedelta(hours=1, minutes=30)
    page = lock_out("jane@bank.example", address="10.0.0.7")
    text = " ".join(page.post(LOGIN, {"username": "jane@bank.example", "password": "x"}).content.decode().split())
    assert "locked for 1 hour 30 minutes." in text


def test_the_lockout_key_folds_the_email_as_sign_in_does(rf):
    """Failed before: the key kept spaces typed around the email (raw form data, read before the
    form strips it), so one operator could count as two."""
    from backoffice.auth import axes_username

    assert axes_username(rf.post(LOGIN, {"username": "  Jane@Bank.Example "}), None) == "jane@bank.example"
    assert axes_username(rf.post("/auth/token"), {"email": " JANE@bank.example"}) == "jane@bank.example"


def _text(html: str) -> str:
    html = re.sub(r"(?s)<(script|style|svg)\b[^>]*>.*?</\1>", " ", html)
    return " ".join(re.sub(r"(?s)<[^>]+>", " ", html).split())


def test_the_lockout_and_its_unlock_speak_portuguese(client, make_operator, jane):
    """Failed before: the unlock's strings came with a merge after the catalogue (English on pt-BR
    pages), and the list's badge lost its colour in the language the server did not start in."""
    master = make_operator("itibackoffice-master", email="gestor@bank.example", language="pt-br")
    browser = Client(REMOTE_ADDR="10.0.0.1", HTTP_ACCEPT_LANGUAGE="pt-BR")
    for _ in range(2):
        browser.post(LOGIN, {"username": "jane@bank.example", "password": "wrong-secret"})
    locked = browser.post(LOGIN, {"username": "jane@bank.example", "password": PASSWORD})
    text = _text(locked.content.decode())
    assert locked.status_code == 429 and "Acesso temporariamente bloqueado" in text, text
    assert "Muitas tentativas de acesso sem sucesso" in text and "gestor de operadores" in text, text
    assert "sign-in" not in text.lower()

    client.force_login(master)
    listing = client.get(LIST).content.decode()
    badge = re.search(r'<span class="[^"]*bg-red-100[^"]*"[^>]*>\s*Bloqueado\s*</span>', listing)
    assert badge and "Locked out" not in listing  # red, in Portuguese
    page = _text(client.get(reverse("admin:backoffice_user_change", args=[jane.pk])).content.decode())
    assert "Bloqueado após muitas tentativas de acesso sem sucesso" in page and "Desbloquear o acesso" in page
    confirm = _text(client.get(unlock_url(jane)).content.decode())
    assert "Desbloquear o acesso de jane@bank.example?" in confirm
    assert "Sim, desbloquear" in confirm and "Não, voltar" in confirm and "Unlock" not in confirm
    done = _text(client.post(unlock_url(jane), follow=True).content.decode())
    assert "jane@bank.example já pode acessar novamente." in done and "Não bloqueado" in done


def test_the_lists_sign_in_column_shows_nothing_as_every_page_does(client, master, jane):
    """An operator who is not locked out: the column's badge is empty, and Unfold's label
    template wrote a hard-coded "-" for it beside the site's "—" (the empty last sign-in)."""
    from backoffice.admin_base import NOTHING

    client.force_login(master)
    page = client.get(LIST).content.decode()
    cells = re.findall(r'<td class="[^"]*field-sign_in[^"]*"[^>]*>(.*?)</td>', page, re.S)
    assert cells and all(cell.strip() == NOTHING for cell in cells), cells
