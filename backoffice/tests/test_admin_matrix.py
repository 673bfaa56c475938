"""The role matrix of DESIGN.md section 5, walked over every admin page and action.

The table below is DESIGN.md's, written out as data; the expectations are derived from it,
never hand-picked per case. ``roles.py`` is not consulted, so a drift between the seeded
matrix and the design fails here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from audit.models import AuditEntry
from phones.models import Phone
from phones.tests.factories import PhoneFactory
from phones.versions import phone_version

pytestmark = pytest.mark.django_db

# role: view phones, create/update/inactivate, view audit ("own" = own changes), manage operators
DESIGN_MATRIX: dict[str, tuple[bool, bool, str, bool]] = {
    "crm-operator": (True, True, "own", False),
    "backoffice-operator": (True, True, "all", False),
    "itibackoffice-operator": (True, False, "all", False),
    "itibackoffice-master": (True, True, "all", True),
    "itinivel1-operator": (True, False, "none", False),
    "inspetoria-operator": (True, False, "all", False),
    "inspetoria-master": (True, False, "all", False),
    "treasury-operator": (True, False, "none", False),
    "geroficios-operator": (True, False, "none", False),
    "": (False, False, "none", False),  # no role at all sees nothing
}


@dataclass(frozen=True)
class Access:
    view: bool
    write: bool
    audit: str
    operators: bool


@dataclass
class World:
    phone: Phone
    foreign_entry: AuditEntry
    plain: Any = None  # an operator without a managing role


@dataclass(frozen=True)
class Page:
    name: str
    method: str
    allowed: Any  # Access -> bool

    def url(self, world: World) -> str:
        return URLS[self.name](world)


URLS = {
    "dashboard": lambda w: reverse("admin:index"),
    "phone list": lambda w: reverse("admin:phones_phone_changelist"),
    "phone list search": lambda w: reverse("admin:phones_phone_changelist") + "?q=1234",
    "phone page": lambda w: reverse("admin:phones_phone_change", args=[w.phone.pk]),
    "account page": lambda w: reverse("admin:phones_phone_account", args=[w.phone.account_id]),
    "export filtered csv": lambda w: reverse("admin:phones_phone_export"),
    "export selected csv": lambda w: reverse("admin:phones_phone_changelist"),
    "phone add form": lambda w: reverse("admin:phones_phone_add"),
    "phone create": lambda w: reverse("admin:phones_phone_add"),
    "phone edit": lambda w: reverse("admin:phones_phone_change", args=[w.phone.pk]),
    "bulk inactivate": lambda w: reverse("admin:phones_phone_changelist"),
    "phone delete": lambda w: reverse("admin:phones_phone_delete", args=[w.phone.pk]),
    "phone history": lambda w: reverse("admin:phones_phone_history", args=[w.phone.pk]),
    "audit list": lambda w: reverse("admin:audit_auditentry_changelist"),
    "audit entry of another operator": lambda w: reverse("admin:audit_auditentry_change", args=[w.foreign_entry.pk]),
    "audit add": lambda w: reverse("admin:audit_auditentry_add"),
    "audit change": lambda w: reverse("admin:audit_auditentry_change", args=[w.foreign_entry.pk]),
    "audit delete": lambda w: reverse("admin:audit_auditentry_delete", args=[w.foreign_entry.pk]),
    "operators list": lambda w: reverse("admin:backoffice_user_changelist"),
    "operator add": lambda w: reverse("admin:backoffice_user_add"),
    "roles list": lambda w: reverse("admin:auth_group_changelist"),
    "role change": lambda w: reverse("admin:auth_group_add"),
    "provider link list": lambda w: reverse("admin:phones_providerlink_changelist"),
    "sync job list": lambda w: reverse("admin:phones_syncjob_changelist"),
    "number preview": lambda w: reverse("admin:phones_phone_number_preview") + "?number=91234-5678&area_code=11",
    "api key list": lambda w: reverse("admin:backoffice_apikey_changelist"),
    "mfa reset of a plain operator": lambda w: reverse("admin:backoffice_user_mfa_reset", args=[w.plain.pk]),
    "unlock page of a plain operator": lambda w: reverse("admin:backoffice_user_unlock", args=[w.plain.pk]),
    "unlock a plain operator": lambda w: reverse("admin:backoffice_user_unlock", args=[w.plain.pk]),
    "unlock action": lambda w: reverse("admin:backoffice_user_changelist"),
}

PAGES = [
    Page("dashboard", "GET", lambda a: True),
    Page("phone list", "GET", lambda a: a.view),
    Page("phone list search", "GET", lambda a: a.view),
    Page("phone page", "GET", lambda a: a.view),
    Page("account page", "GET", lambda a: a.view),
    Page("export filtered csv", "GET", lambda a: a.view),
    Page("export selected csv", "POST", lambda a: a.view),
    Page("phone add form", "GET", lambda a: a.write),
    Page("phone create", "POST", lambda a: a.write),
    Page("phone edit", "POST", lambda a: a.write),
    Page("bulk inactivate", "POST", lambda a: a.write),
    Page("phone delete", "GET", lambda a: False),
    Page("phone history", "GET", lambda a: a.audit != "none"),
    Page("audit list", "GET", lambda a: a.audit != "none"),
    Page("audit entry of another operator", "GET", lambda a: a.audit == "all"),
    Page("audit add", "GET", lambda a: False),
    Page("audit change", "POST", lambda a: False),
    Page("audit delete", "POST", lambda a: False),
    Page("operators list", "GET", lambda a: a.operators),
    Page("operator add", "GET", lambda a: a.operators),
    Page("roles list", "GET", lambda a: a.operators),
    Page("role change", "GET", lambda a: False),
    Page("provider link list", "GET", lambda a: a.view),
    Page("sync job list", "GET", lambda a: a.view),
    Page("number preview", "GET", lambda a: a.write),
    Page("api key list", "GET", lambda a: a.operators),
    Page("mfa reset of a plain operator", "GET", lambda a: a.operators),
    Page("unlock page of a plain operator", "GET", lambda a: a.operators),
    Page("unlock a plain operator", "POST", lambda a: a.operators),
    Page("unlock action", "POST", lambda a: a.operators),
]

CASES = [pytest.param(role, page, id=f"{role or 'no-role'}|{page.name}") for role in DESIGN_MATRIX for page in PAGES]


def _post_data(page: Page, world: World) -> dict[str, Any]:
    phone = world.phone
    if page.name == "phone create":
        return {"account_id": "900", "number": "93333-0000", "type": "MOBILE", "area_code": "11", "country_code": "55"}
    if page.name == "phone edit":
        # The version the form would have been read at (a save against another is refused).
        version = phone_version(Phone.objects.get(pk=phone.pk))
        return {
            "number": "97777-0000",
            "type": "MOBILE",
            "area_code": "11",
            "country_code": "55",
            "active": "on",
            "version": version,
        }
    if page.name == "bulk inactivate":
        return {"action": "inactivate_selected", "_selected_action": [str(phone.pk)], "confirm": "yes"}
    if page.name == "export selected csv":
        return {"action": "export_selected_csv", "_selected_action": [str(phone.pk)]}
    if page.name == "audit delete":
        return {"post": "yes"}
    if page.name == "unlock action":
        return {"action": "unlock_selected", "_selected_action": [str(world.plain.pk)]}
    if page.name == "unlock a plain operator":
        return {}
    return {"event": "phone_change"}


def _effect(page: Page, world: World) -> bool | None:
    """Whether the write happened (None for reads)."""
    phone = Phone.objects.get(pk=world.phone.pk)
    return {
        "phone create": Phone.objects.filter(account_id=900).exists(),
        "phone edit": phone.number == "97777-0000",
        "bulk inactivate": not phone.active,
        "audit change": AuditEntry.objects.get(pk=world.foreign_entry.pk).event != world.foreign_entry.event,
        "audit delete": not AuditEntry.objects.filter(pk=world.foreign_entry.pk).exists(),
        "unlock a plain operator": not AccessAttempt.objects.filter(username=world.plain.email).exists(),
        "unlock action": not AccessAttempt.objects.filter(username=world.plain.email).exists(),
    }.get(page.name)


@pytest.fixture
def world(make_operator) -> World:
    owner = make_operator("backoffice-operator", email="owner@bank.example")
    phone = PhoneFactory(actor=owner, account_id=4321, number="91234-5678")
    plain = make_operator("treasury-operator", email="plain@bank.example")
    # plain is locked out (axes' record at the limit): who may unlock it?
    AccessAttempt.objects.create(
        username=plain.email,
        ip_address="10.0.0.1",
        user_agent="browser",
        failures_since_start=settings.AXES_FAILURE_LIMIT,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/admin/login/",
    )
    return World(phone=phone, foreign_entry=AuditEntry.objects.get(phone=phone), plain=plain)


def _sent_away(response) -> bool:
    """Redirected because the object is not there for this operator: to its list, saying so
    (``LoggedDenialsMixin``), or to the dashboard."""
    from django.contrib.messages import get_messages

    said = [str(message) for message in get_messages(response.wsgi_request)]
    return response.url == reverse("admin:index") or any(text.startswith("There is no ") for text in said)


@pytest.mark.parametrize(("role", "page"), CASES)
def test_admin_follows_the_role_matrix(client, make_operator, world, caplog, role, page):
    access = Access(*DESIGN_MATRIX[role])
    user = make_operator(*([role] if role else []), email="probe@bank.example")
    client.force_login(user)
    url = page.url(world)
    with caplog.at_level(logging.WARNING, logger="backoffice.access"):
        response = client.get(url) if page.method == "GET" else client.post(url, _post_data(page, world))
    effect = _effect(page, world)
    expected = page.allowed(access)
    if expected:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 302:
            assert not _sent_away(response), "redirected away: object hidden"
        if effect is not None:
            assert effect, f"{page.name} should have taken effect for {role}"
        if page.name.startswith("export"):
            assert response["Content-Type"].startswith("text/csv")
    else:
        if effect is not None:
            assert not effect, f"{page.name} must not take effect for {role or 'no role'}"
        if page.method == "GET" or page.name.startswith("audit"):
            # Refused (403), or the object is not there for this operator (back to its list).
            assert response.status_code in (403, 302), response.status_code
            if response.status_code == 302:
                assert _sent_away(response)
        if page.name.startswith("export"):
            assert not response.get("Content-Type", "").startswith("text/csv")
        if response.status_code == 403:
            assert "denied operator=probe@bank.example permission=" in caplog.text


@pytest.mark.parametrize("role", list(DESIGN_MATRIX), ids=lambda role: role or "no-role")
def test_sidebar_shows_only_what_the_role_may_open(client, make_operator, world, role):
    access = Access(*DESIGN_MATRIX[role])
    user = make_operator(*([role] if role else []), email="probe@bank.example")
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    links = {item["title"] for group in response.context["sidebar_navigation"] for item in group["items"]}
    expected = {"Dashboard"}
    # Provider links and sync jobs open with the phones: sync in plain sight.
    expected |= {"Phones", "Provider links", "Sync jobs"} if access.view else set()
    expected |= {"Add phone"} if access.write else set()
    expected |= {"Audit log"} if access.audit != "none" else set()
    expected |= {"Operators", "Roles"} if access.operators else set()
    assert links == expected
    html = response.content.decode()
    assert ("Active phones" in html) is access.view
    assert ("Changes in the last 24 h" in html) is (access.audit != "none")


@pytest.mark.parametrize("role", [r for r in DESIGN_MATRIX if r], ids=str)
def test_phone_page_buttons_follow_the_matrix(client, make_operator, world, role):
    access = Access(*DESIGN_MATRIX[role])
    client.force_login(make_operator(role, email="probe@bank.example"))
    detail = client.get(reverse("admin:phones_phone_change", args=[world.phone.pk])).content.decode()
    listing = client.get(reverse("admin:phones_phone_changelist"))
    assert ('name="_save"' in detail) is access.write
    assert ('name="number"' in detail) is access.write
    assert ("inactivate_selected" in listing.content.decode()) is access.write
    assert (reverse("admin:phones_phone_add") in listing.content.decode()) is access.write
    assert 'value="delete_selected"' not in listing.content.decode()
