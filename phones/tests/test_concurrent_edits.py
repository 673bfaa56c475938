"""Two writers, one phone: a save against a version that is no longer current overwrites nothing.

Before: the second of two operators who opened one phone silently reverted the first one's
change, and the audit entry recorded the revert in the second one's name. Now the phone's version
(``phones.versions``) travels with the form (a hidden field) and with API tools that want it
(``ETag`` / ``If-Match``), and the service compares it under the phone's row lock.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.messages import get_messages
from django.db import connections
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditEntry, AuditEvent, Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from phones import services
from phones.errors import PhoneChangedMeanwhile, PhoneInactive
from phones.models import Phone
from phones.tests.factories import PhoneFactory
from phones.versions import phone_version, version_instant

pytestmark = pytest.mark.django_db
CTX = AuditContext(origin=Origin.API, request_id="req-9")
BASE = "/accounts/v1/accounts"


@pytest.fixture
def ana(make_operator):
    return make_operator("crm-operator", email="ana.crm@bank.example")


@pytest.fixture
def bruno(make_operator):
    return make_operator("crm-operator", email="bruno.crm@bank.example")


@pytest.fixture
def phone(ana):
    return PhoneFactory(actor=ana, account_id=7001, number="91234-5678", area_code=11)


def fresh(phone: Phone) -> Phone:
    return Phone.objects.get(pk=phone.pk)


def entries(phone: Phone) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(phone_id=phone.pk).order_by("id"))


def update(actor, phone: Phone, data: dict, **kwargs):
    return services.phone_update(
        actor=Actor.of(actor), context=CTX, account_id=phone.account_id, phone_id=phone.pk, data=data, **kwargs
    )


# --- the version token ---------------------------------------------------------------------------
def test_the_version_is_the_stored_phone_and_moves_with_each_change(ana, phone):
    read = phone_version(fresh(phone))
    assert read == phone_version(fresh(phone))  # two reads of one state: one version
    assert version_instant(read) == fresh(phone).updated_at
    update(ana, phone, {"extension": "12"})
    assert phone_version(fresh(phone)) != read
    unchanged = phone_version(fresh(phone))
    update(ana, phone, {"extension": "12"})  # nothing changed: no write, same version
    assert phone_version(fresh(phone)) == unchanged


def test_the_version_returned_by_an_update_is_the_stored_one(ana, phone):
    updated = update(ana, phone, {"number": "98888-7777"})
    assert phone_version(updated) == phone_version(fresh(phone))


@pytest.mark.parametrize("token", ["", "abc", "12-xyz", "١٢٣-0123456789abcdef", "9" * 40 + "-0123456789abcdef"])
def test_a_token_we_did_not_make_has_no_instant(token):
    assert version_instant(token) is None


# --- the service, under the row lock --------------------------------------------------------------
def test_a_stale_version_writes_nothing_and_no_entry(ana, bruno, phone):
    read_by_bruno = phone_version(fresh(phone))
    update(ana, phone, {"number": "98888-7777"})
    before = entries(phone)

    with pytest.raises(PhoneChangedMeanwhile) as caught:
        update(bruno, phone, {"number": "91234-5678", "extension": "9"}, expected_version=read_by_bruno)

    assert caught.value.status == 412
    assert caught.value.current_version == phone_version(fresh(phone))
    stored = fresh(phone)
    assert (stored.number, stored.extension) == ("98888-7777", None)  # Ana's change stands
    assert entries(phone) == before  # and no entry in Bruno's name
    assert not AuditEntry.objects.filter(operator_email="bruno.crm@bank.example").exists()


def test_the_current_version_applies_and_is_audited(ana, bruno, phone):
    update(ana, phone, {"number": "98888-7777"})
    current = phone_version(fresh(phone))
    update(bruno, phone, {"extension": "9"}, expected_version=current)
    assert fresh(phone).extension == "9"
    last = entries(phone)[-1]
    assert (last.operator_email, last.changes) == ("bruno.crm@bank.example", {"extension": [None, "9"]})


def test_without_a_version_the_last_write_wins_as_before(ana, bruno, phone):
    update(ana, phone, {"number": "98888-7777"})
    update(bruno, phone, {"number": "91234-5678"})
    assert fresh(phone).number == "91234-5678" and len(entries(phone)) == 3


def test_a_phone_inactivated_since_it_was_read_is_a_change_made_since(ana, bruno, phone):
    read = phone_version(fresh(phone))
    services.phone_inactivate(actor=Actor.of(ana), context=CTX, account_id=phone.account_id, phone_id=phone.pk)
    with pytest.raises(PhoneChangedMeanwhile):
        update(bruno, phone, {"extension": "9"}, expected_version=read)
    with pytest.raises(PhoneInactive):  # the version of the inactive phone: the 422 rule
        update(bruno, phone, {"extension": "9"}, expected_version=phone_version(fresh(phone)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writers_racing_with_one_version_one_wins(make_operator):
    """Checked under the lock, not before it: eight PATCHes with the same If-Match, one applies."""
    operator = make_operator("crm-operator")
    phone = PhoneFactory(actor=operator, account_id=7002, number="3333-4444")
    etag = f'"{phone_version(fresh(phone))}"'
    barrier = threading.Barrier(8)

    def patch(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(operator).access_token}")
        try:
            barrier.wait(timeout=10)
            url = f"{BASE}/7002/phones/{phone.pk}"
            return client.patch(url, {"extension": f"x{index}"}, format="json", HTTP_IF_MATCH=etag).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(patch, range(8)))
    assert statuses == [200] + [412] * 7
    assert len(entries(phone)) == 2  # the creation and the one update


# --- the API: ETag and If-Match ------------------------------------------------------------------
@pytest.fixture
def api(api_client_for, ana):
    return api_client_for(ana)


def item_url(phone: Phone) -> str:
    return f"{BASE}/{phone.account_id}/phones/{phone.pk}"


def etag_of(phone: Phone) -> str:
    return f'"{phone_version(fresh(phone))}"'


def test_get_sends_the_phones_etag_and_a_patch_moves_it(api, phone):
    first = api.get(item_url(phone))
    assert first.status_code == 200 and first["ETag"] == etag_of(phone)
    assert api.get(item_url(phone))["ETag"] == first["ETag"]
    patched = api.patch(item_url(phone), {"extension": "7"}, format="json")
    assert patched.status_code == 200
    after = api.get(item_url(phone))["ETag"]
    assert after != first["ETag"]
    assert patched["ETag"] == after  # the PATCH answers with the version it left


def test_a_stale_if_match_is_412_and_writes_nothing(api, bruno, phone):
    stale = api.get(item_url(phone))["ETag"]
    update(bruno, phone, {"number": "98888-7777"})
    before = entries(phone)
    response = api.patch(item_url(phone), {"number": "91234-5678"}, format="json", HTTP_IF_MATCH=stale)
    assert response.status_code == 412, response.content
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"message"} and "changed after you read it" in response.json()["message"]
    assert "ETag" not in response
    assert fresh(phone).number == "98888-7777" and entries(phone) == before


def test_a_matching_if_match_applies(api, phone):
    response = api.patch(item_url(phone), {"extension": "7"}, format="json", HTTP_IF_MATCH=etag_of(phone))
    assert response.status_code == 200 and response.json() == {"id": phone.pk}
    assert fresh(phone).extension == "7" and len(entries(phone)) == 2


def test_without_if_match_the_contract_behaviour_stands(api, bruno, phone):
    update(bruno, phone, {"number": "98888-7777"})
    response = api.patch(item_url(phone), {"number": "91234-5678"}, format="json")
    assert response.status_code == 200 and fresh(phone).number == "91234-5678"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("*", 200),  # any version of an existing phone
        ("W/{etag}", 412),  # a weak tag never matches for an update (strong comparison)
        ("{bare}", 412),  # not an entity tag: matches nothing
        ("", 412),
        ('"0-0000000000000000", {etag}', 200),  # one of several
        ('"0-0000000000000000", "1-1111111111111111"', 412),
    ],
)
def test_if_match_forms(api, phone, header, status):
    etag = etag_of(phone)
    value = header.format(etag=etag, bare=etag.strip('"'))
    response = api.patch(item_url(phone), {"extension": "7"}, format="json", HTTP_IF_MATCH=value)
    assert response.status_code == status, response.content
    assert (fresh(phone).extension == "7") is (status == 200)


def test_if_match_comes_after_the_body_and_the_phone(api, phone):
    stale = '"0-0000000000000000"'
    bad = api.patch(item_url(phone), {"area_code": "x"}, format="json", HTTP_IF_MATCH=stale)
    assert bad.status_code == 400 and bad.json()["field"] == "area_code"
    missing = api.patch(
        f"{BASE}/{phone.account_id}/phones/999999", {"extension": "7"}, format="json", HTTP_IF_MATCH=stale
    )
    assert missing.status_code == 404


# --- the admin form ----------------------------------------------------------------------------
def change_url(phone: Phone) -> str:
    return reverse("admin:phones_phone_change", args=[phone.pk])


def edit_form(phone: Phone, version: str | None, **overrides) -> dict:
    data = {
        "number": phone.number,
        "type": phone.type,
        "area_code": "" if phone.area_code is None else str(phone.area_code),
        "country_code": str(phone.country_code),
        "extension": phone.extension or "",
        "active": "on",
        **overrides,
    }
    if version is not None:
        data["version"] = version
    return data


def test_the_form_carries_the_version_it_was_read_at(client, ana, phone):
    client.force_login(ana)
    page = client.get(change_url(phone))
    version = phone_version(fresh(phone))
    assert page.context["adminform"].form["version"].value() == version
    assert f'<input type="hidden" name="version" value="{version}"' in page.content.decode()


def test_a_save_against_an_older_version_shows_the_other_change_and_writes_nothing(client, make_operator, ana, phone):
    # Bianca may read the whole audit trail: she is told who changed the phone.
    bianca = make_operator("backoffice-operator", email="bianca.bo@bank.example")
    client.force_login(bianca)
    read = client.get(change_url(phone)).context["adminform"].form["version"].value()
    update(ana, phone, {"number": "98888-7777"})  # Ana saves first (through the API)
    before = entries(phone)

    response = client.post(change_url(phone), edit_form(phone, read, extension="55"))

    assert response.status_code == 200
    form = response.context["adminform"].form
    (error,) = form.non_field_errors()
    assert 'id="phone-conflict"' in error and "Nothing was saved" in error
    assert "ana.crm@bank.example (API): number: 91234-5678 → 98888-7777" in error
    stored = fresh(phone)
    assert (stored.number, stored.extension) == ("98888-7777", None)
    assert entries(phone) == before
    # Her entries are kept, and the form now carries the version she has just been shown:
    # saving again is a decision made knowing Ana's change.
    assert form["extension"].value() == "55"
    assert form["version"].value() == phone_version(stored)
    again = client.post(change_url(phone), edit_form(stored, form["version"].value(), extension="55"))
    assert again.status_code == 302 and fresh(phone).extension == "55"


def test_a_conflict_names_no_one_the_operator_may_not_see_in_the_audit(client, ana, bruno, phone):
    # A crm-operator sees only its own audit entries: the change is shown, its author is not.
    client.force_login(bruno)
    read = phone_version(fresh(phone))
    update(ana, phone, {"number": "98888-7777"})
    response = client.post(change_url(phone), edit_form(phone, read, extension="55"))
    (error,) = response.context["adminform"].form.non_field_errors()
    assert "another operator (API): number: 91234-5678 → 98888-7777" in error
    assert "ana.crm" not in response.content.decode()
    assert fresh(phone).extension is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_landing_between_the_forms_check_and_the_save_overwrites_nothing(
    client, monkeypatch, ana, bruno, phone
):
    """The form's check passes; Ana's save commits (her own request, her own transaction) before
    Bruno's takes the lock: the service's comparison under the lock refuses his."""
    client.force_login(bruno)
    read = phone_version(fresh(phone))
    real_update = services.phone_update

    def ana_saves() -> None:
        try:
            real_update(
                actor=Actor.of(ana),
                context=CTX,
                account_id=phone.account_id,
                phone_id=phone.pk,
                data={"extension": "1"},
            )
        finally:
            connections.close_all()

    def ana_first(**kwargs):
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(ana_saves).result()
        return real_update(**kwargs)

    monkeypatch.setattr(services, "phone_update", ana_first)
    response = client.post(change_url(phone), edit_form(phone, read, number="97777-6666"))

    assert response.status_code == 302 and response.url == change_url(phone)
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Nothing was saved" in message and "extension: — → 1" in message
    stored = fresh(phone)
    assert (stored.number, stored.extension) == ("91234-5678", "1")
    assert [e.operator_email for e in entries(phone)] == ["ana.crm@bank.example", "ana.crm@bank.example"]


def test_a_form_without_its_version_saves_nothing(client, bruno, phone):
    from phones.admin_forms import VERSION_MISSING

    client.force_login(bruno)
    response = client.post(change_url(phone), edit_form(phone, None, extension="55"))
    assert response.status_code == 200
    assert VERSION_MISSING in response.content.decode()
    assert fresh(phone).extension is None and len(entries(phone)) == 1


def test_each_entry_of_the_conflict_is_a_phone_change(client, make_operator, ana, phone):
    bianca = make_operator("backoffice-operator", email="bianca.bo@bank.example")
    client.force_login(bianca)
    read = phone_version(fresh(phone))
    update(ana, phone, {"extension": "1"})
    update(ana, phone, {"extension": "2"})
    response = client.post(change_url(phone), edit_form(phone, read))
    (error,) = response.context["adminform"].form.non_field_errors()
    # Newest first, both of them; the creation (before the version) is not listed.
    assert error.index("extension: 1 → 2") < error.index("extension: — → 1")
    assert error.count('class="conflict-change"') == 2
    assert AuditEntry.objects.filter(phone_id=phone.pk, event=AuditEvent.PHONE_CHANGE).count() == 2
