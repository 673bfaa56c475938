"""The phones API through HTTP: every contract status and error shape."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from backoffice.actor import Actor
from phones.models import Phone
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db
BASE = "/accounts/v1/accounts"
BODY = {"area_code": 11, "number": "91234-5678", "type": "MOBILE", "extension": "ext 123", "active": True}


@pytest.fixture
def crm(make_operator):
    return make_operator("crm-operator")


@pytest.fixture
def client(api_client_for, crm):
    return api_client_for(crm)


def post(client, account=32422, body=BODY, **headers):
    return client.post(f"{BASE}/{account}/phones", body, format="json", **headers)


def patch(client, phone_id, body, account=32422):
    return client.patch(f"{BASE}/{account}/phones/{phone_id}", body, format="json")


def assert_bad_request(response, field):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"message", "field"} and data["field"] == field and data["message"]


# --- create ----------------------------------------------------------------------------------
def test_create_returns_id_and_audits_with_origin_api(client, crm):
    response = post(client, HTTP_X_CUSTOMER_ID="50624", HTTP_X_REQUEST_ID="abc-123")
    assert response.status_code == 200
    assert response.json() == {"id": Phone.objects.get().pk}
    assert response["X-Request-ID"] == "abc-123"
    phone = Phone.objects.get()
    assert (phone.customer_id, phone.e164, phone.extension) == (50624, "+5511912345678", "ext 123")
    entry = AuditEntry.objects.get()
    assert entry.payload["origin"] == "API" and entry.payload["email"] == crm.email
    assert (entry.request_id, entry.ip_address) == ("abc-123", "127.0.0.1")


def test_create_defaults(client):
    assert post(client, body={"number": "3456-7890", "type": "RESIDENTIAL"}).status_code == 200
    phone = Phone.objects.get()
    assert (phone.country_code, phone.active, phone.area_code, phone.extension) == (55, True, None, None)
    assert AuditEntry.objects.get().payload["object"]["area_code"] == ""


def test_create_duplicate_is_409_with_contract_message(client):
    assert post(client).status_code == 200
    response = post(client, body={**BODY, "number": "912345678"})
    assert response.status_code == 409
    assert response.json() == {"message": "Phone number already exists"}
    assert Phone.objects.count() == 1 and AuditEntry.objects.count() == 1


def test_unknown_members_are_ignored_as_the_contract_allows(client):
    assert post(client, body={**BODY, "nickname": "home"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "MOBILE"}, "number"),
        ({"number": "91234-5678"}, "type"),
        ({**BODY, "type": "PAGER"}, "type"),
        ({**BODY, "number": 912345678}, "number"),
        ({**BODY, "number": "1234567890123456"}, "number"),
        ({**BODY, "number": "call me"}, "number"),
        ({**BODY, "number": ""}, "number"),
        ({**BODY, "area_code": "11"}, "area_code"),
        ({**BODY, "area_code": 11.5}, "area_code"),
        ({**BODY, "area_code": 2**31}, "area_code"),
        ({**BODY, "country_code": 100000}, "country_code"),
        ({**BODY, "country_code": -1}, "country_code"),
        ({**BODY, "country_code": True}, "country_code"),
        ({**BODY, "extension": "12345678901"}, "extension"),
        ({**BODY, "extension": 9}, "extension"),
        ({**BODY, "active": "yes"}, "active"),
        ({**BODY, "active": None}, "active"),
    ],
)
def test_create_validation_errors_name_the_first_bad_field(client, body, field):
    assert_bad_request(post(client, body=body), field)
    assert not Phone.objects.exists()


@pytest.mark.parametrize("account", ["0", "-1", "abc", "9223372036854775808"])
def test_bad_account_id_is_400(client, account):
    assert_bad_request(post(client, account=account), "accountId")


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", ""])
def test_non_numeric_customer_id_header_is_400(client, value):
    assert_bad_request(post(client, HTTP_X_CUSTOMER_ID=value), "x-customer-id")


def test_malformed_json_and_non_object_bodies_are_400(client):
    response = client.generic("POST", f"{BASE}/1/phones", "{not json", content_type="application/json")
    assert_bad_request(response, "body")
    assert_bad_request(client.post(f"{BASE}/1/phones", [1, 2], format="json"), "body")
    assert_bad_request(client.generic("POST", f"{BASE}/1/phones", "null", content_type="application/json"), "body")


def test_wrong_content_type_is_415_json(client):
    response = client.generic("POST", f"{BASE}/1/phones", "number=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and set(response.json()) == {"message"}


# --- update ----------------------------------------------------------------------------------
def test_patch_updates_and_audits(client, crm):
    phone = PhoneFactory(account_id=32422, actor=crm)
    response = patch(client, phone.pk, {"type": "COMMERCIAL", "extension": "22"})
    assert response.status_code == 200 and response.json() == {"id": phone.pk}
    entry = AuditEntry.objects.filter(phone=phone).latest("id")
    assert entry.event == "phone_change" and entry.payload["origin"] == "API"
    assert entry.changes == {"type": ["MOBILE", "COMMERCIAL"], "extension": [None, "22"]}


def test_patch_inactivate_then_422(client, crm):
    phone = PhoneFactory(account_id=32422, actor=crm)
    assert patch(client, phone.pk, {"active": False}).status_code == 200
    response = patch(client, phone.pk, {"extension": "1"})
    assert response.status_code == 422
    assert response.json() == {"message": "Can't update an inactive phone number"}


def test_patch_collision_is_409(client, crm):
    PhoneFactory(account_id=32422, number="91234-5678", actor=crm)
    other = PhoneFactory(account_id=32422, number="1111-1111", actor=crm)
    response = patch(client, other.pk, {"number": "912345678"})
    assert response.status_code == 409 and response.json() == {"message": "Phone number already exists"}


def test_patch_empty_body_and_bad_values_are_400(client, crm):
    phone = PhoneFactory(account_id=32422, actor=crm)
    assert_bad_request(patch(client, phone.pk, {}), "body")
    assert_bad_request(patch(client, phone.pk, {"number": None}), "number")
    assert_bad_request(patch(client, phone.pk, {"area_code": "x"}), "area_code")
    assert_bad_request(patch(client, phone.pk, {"type": "FAX"}), "type")
    assert_bad_request(patch(client, "0", {"active": False}), "phoneId")
    assert AuditEntry.objects.filter(phone=phone).count() == 1


def test_patch_unknown_phone_or_other_account_is_404(client, crm):
    phone = PhoneFactory(account_id=32422, actor=crm)
    for account, phone_id in ((32422, 999_999), (1, phone.pk)):
        response = patch(client, phone_id, {"active": False}, account=account)
        assert response.status_code == 404 and response.json() == {"message": "Phone not found"}


# --- reads -----------------------------------------------------------------------------------
def test_list_filters_and_paginates(client, crm):
    mobile = PhoneFactory(account_id=7, number="1", actor=crm)
    PhoneFactory(account_id=7, number="2", type="RESIDENTIAL", actor=crm)
    PhoneFactory(account_id=8, number="3", actor=crm)
    data = client.get(f"{BASE}/7/phones").json()
    assert data["count"] == 2 and [row["account_id"] for row in data["results"]] == [7, 7]
    assert {row["id"] for row in client.get(f"{BASE}/7/phones?type=MOBILE").json()["results"]} == {mobile.pk}
    patch(client, mobile.pk, {"active": False}, account=7)
    assert client.get(f"{BASE}/7/phones?active=false").json()["count"] == 1
    page = client.get(f"{BASE}/7/phones?page_size=1").json()
    assert len(page["results"]) == 1 and page["next"]
    assert_bad_request(client.get(f"{BASE}/7/phones?type=FAX"), "type")


def test_list_pages_like_drf(client, crm):
    ids = [PhoneFactory(account_id=7, number=f"1111-000{n}", actor=crm).pk for n in range(5)]
    first = client.get(f"{BASE}/7/phones?page_size=2").json()
    assert (first["count"], [row["id"] for row in first["results"]], first["previous"]) == (5, ids[:2], None)
    assert first["next"] == f"http://testserver{BASE}/7/phones?page=2&page_size=2"
    second = client.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == ids[2:4] and second["previous"] and second["next"]
    last = client.get(f"{BASE}/7/phones?page_size=2&page=last").json()
    assert (last["count"], [row["id"] for row in last["results"]], last["next"]) == (5, ids[4:], None)
    filtered = client.get(f"{BASE}/7/phones?page_size=2&page=2&type=MOBILE&active=true").json()
    assert (filtered["count"], [row["id"] for row in filtered["results"]]) == (5, ids[2:4])
    for page in ("4", "0", "abc", "-1"):
        response = client.get(f"{BASE}/7/phones?page_size=2&page={page}")
        assert response.status_code == 404 and response.json() == {"message": "Invalid page."}, page
    empty = client.get(f"{BASE}/99/phones").json()
    assert (empty["count"], empty["results"], empty["next"]) == (0, [], None)
    assert client.get(f"{BASE}/99/phones?page=last").json()["count"] == 0


def test_list_runs_one_query_for_the_page_and_its_total(client, crm):
    PhoneFactory(account_id=7, actor=crm)
    client.get(f"{BASE}/7/phones")  # warm the role matrix
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{BASE}/7/phones?type=MOBILE").json()["count"] == 1
    sql = [query["sql"] for query in queries]
    assert len(sql) == 2 and "COUNT(*) OVER ()" in sql[1], sql  # the operator, the page with its total


def test_get_one_returns_all_fields(client, crm):
    phone = PhoneFactory(account_id=7, number="91234-5678", customer_id=3, actor=crm)
    data = client.get(f"{BASE}/7/phones/{phone.pk}").json()
    assert set(data) == {
        "id", "account_id", "customer_id", "number", "type", "area_code", "country_code",
        "extension", "active", "e164", "created_at", "updated_at",
    }  # fmt: skip
    assert data["e164"] == "+5511912345678" and data["customer_id"] == 3
    assert client.get(f"{BASE}/8/phones/{phone.pk}").status_code == 404


# --- auth and roles --------------------------------------------------------------------------
def test_token_obtain_and_refresh(make_operator):
    from rest_framework.test import APIClient

    from backoffice.tests.factories import PASSWORD

    operator = make_operator("treasury-operator", email="t@bank.example")
    anonymous = APIClient()
    bad = anonymous.post("/auth/token", {"email": "t@bank.example", "password": "nope"}, format="json")
    assert bad.status_code == 401 and set(bad.json()) == {"message"}
    assert_bad_request(anonymous.post("/auth/token", {"email": "t@bank.example"}, format="json"), "password")
    tokens = anonymous.post("/auth/token", {"email": "t@bank.example", "password": PASSWORD}, format="json").json()
    assert set(tokens) == {"access", "refresh"}
    refreshed = anonymous.post("/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json").json()
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
    assert anonymous.get(f"{BASE}/1/phones").status_code == 200
    assert operator.is_authenticated


def test_missing_or_bad_token_is_401_json(client):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    for response in (
        anonymous.post(f"{BASE}/1/phones", BODY, format="json"),
        anonymous.get(f"{BASE}/1/phones", HTTP_AUTHORIZATION="Bearer not-a-jwt"),
    ):
        assert response.status_code == 401 and set(response.json()) == {"message"}


WRITERS = {"crm-operator", "backoffice-operator", "itibackoffice-master"}
ALL_ROLES = [
    "crm-operator", "backoffice-operator", "itibackoffice-operator", "itibackoffice-master", "itinivel1-operator",
    "inspetoria-operator", "inspetoria-master", "treasury-operator", "geroficios-operator",
]  # fmt: skip


@pytest.mark.parametrize("role", [*ALL_ROLES, None])
def test_role_matrix_on_phone_endpoints(make_operator, api_client_for, role, caplog):
    operator = make_operator(*([role] if role else []))
    client = api_client_for(operator)
    writer = make_operator("crm-operator")
    phone = PhoneFactory(account_id=5, actor=writer)
    can_write = role in WRITERS
    can_read = role is not None
    assert client.get(f"{BASE}/5/phones").status_code == (200 if can_read else 403)
    assert client.get(f"{BASE}/5/phones/{phone.pk}").status_code == (200 if can_read else 403)
    assert post(client, account=5, body={**BODY, "number": "5555"}).status_code == (200 if can_write else 403)
    assert patch(client, phone.pk, {"extension": "1"}, account=5).status_code == (200 if can_write else 403)
    if not can_write:
        assert post(client, account=5, body={"bad": 1}).status_code == 403  # no validation leak
        assert "denied operator=" in caplog.text


def test_unknown_api_url_is_json_404(client):
    response = client.get("/accounts/v1/nothing-here")
    assert response.status_code == 404 and json.loads(response.content) == {"message": "Not found"}


def test_unexpected_error_is_contract_500_without_trace(client, monkeypatch):
    from phones import services

    def boom(**_):
        raise RuntimeError("secret stack detail")

    monkeypatch.setattr(services, "phone_create", boom)
    response = post(client)
    assert response.status_code == 500 and response.json() == {"message": "Error creating phone number"}
    monkeypatch.setattr(services, "phone_update", boom)
    response = patch(client, 1, {"active": False})
    assert response.status_code == 500 and response.json() == {"message": "Error updating phone number"}


def test_method_not_allowed_is_json(client):
    response = client.delete(f"{BASE}/1/phones/1")
    assert response.status_code == 405 and set(response.json()) == {"message"}


# --- query counts ----------------------------------------------------------------------------
def test_create_and_update_run_a_fixed_small_number_of_queries(client, crm):
    from backoffice import db_writes

    db_writes._ID_BLOCKS.clear()
    post(client, body={**BODY, "number": "0000"})  # warm caches; takes a block of phone ids
    with CaptureQueriesContext(connection) as create_queries:
        assert post(client).status_code == 200
    phone_id = Phone.objects.latest("id").pk
    with CaptureQueriesContext(connection) as update_queries:
        assert patch(client, phone_id, {"extension": "9"}).status_code == 200
    # The test's own transaction adds savepoints that a real request does not run.
    create_sql = [q["sql"] for q in create_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    update_sql = [q["sql"] for q in update_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # operator with its role ids; the phone and its audit entry in one INSERT statement on
    # PostgreSQL (its id reserved from the block taken above), two INSERTs elsewhere
    assert len(create_sql) == (2 if connection.vendor == "postgresql" else 3), create_sql
    # operator, SELECT phone FOR UPDATE (with its creation entry's hash: a first change has no
    # head recorded yet), UPDATE phone (with the new head) and INSERT audit entry: one statement
    # on PostgreSQL, two elsewhere
    writes = 1 if connection.vendor == "postgresql" else 2
    assert len(update_sql) == 2 + writes, update_sql
    with CaptureQueriesContext(connection) as again:
        assert patch(client, phone_id, {"extension": "10"}).status_code == 200
    again_sql = [q["sql"] for q in again if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # from then on the head comes with the locked row itself
    assert len(again_sql) == 2 + writes, again_sql


def test_update_of_a_linked_phone_adds_only_the_outbox_queries(client, crm, make_operator):
    from audit.models import Origin
    from audit.services import AuditContext
    from provider_sync.links import provider_link_set

    phone = PhoneFactory(account_id=32422, actor=crm)
    provider_link_set(
        actor=Actor.of(make_operator("backoffice-operator")),
        context=AuditContext(origin=Origin.API),
        account_id=32422,
        phone_id=phone.pk,
        provider="plivo",
        settings={"alias": "home"},
    )
    patch(client, phone.pk, {"extension": "1"})  # warm
    with CaptureQueriesContext(connection) as queries:
        assert patch(client, phone.pk, {"extension": "2"}).status_code == 200
    sql = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # the 3 (4 without PostgreSQL) of a later change, then: lock the link and read the last
    # desired state (nothing confirmed at the provider yet); on PostgreSQL the change's write is
    # the job's too: one statement writes the phone and its entry, supersedes the open jobs and
    # inserts the new one (the parts one by one elsewhere)
    assert len(sql) == (5 if connection.vendor == "postgresql" else 8), sql
    assert sum("phones_syncjob" in statement and "INSERT" in statement for statement in sql) == 1
    if connection.vendor == "postgresql":
        (write,) = [statement for statement in sql if "INSERT" in statement]
        assert all(table in write for table in ("phones_phone", "audit_auditentry", "phones_syncjob"))


def test_token_endpoint_locks_out_after_repeated_failures(make_operator, settings):
    from rest_framework.test import APIClient

    from backoffice.tests.factories import PASSWORD

    settings.AXES_FAILURE_LIMIT = 3
    make_operator("crm-operator", email="locked@bank.example")
    client = APIClient()
    for _ in range(3):
        client.post("/auth/token", {"email": "locked@bank.example", "password": "wrong"}, format="json")
    response = client.post("/auth/token", {"email": "locked@bank.example", "password": PASSWORD}, format="json")
    assert response.status_code in (403, 429)
    assert "locked" in response.json()["message"]


def test_fast_representation_equals_the_documented_serializer(crm):
    from phones.api.serializers import PhoneOutput, phone_representation

    for phone in (
        PhoneFactory(account_id=3, actor=crm, customer_id=9, extension="x1"),
        PhoneFactory(account_id=3, actor=crm, area_code=None, country_code=1),
    ):
        phone.refresh_from_db()
        assert phone_representation(phone) == PhoneOutput(phone).data
