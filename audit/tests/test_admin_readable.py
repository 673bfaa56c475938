"""The audit log as inspectors read it (issue "The backoffice operators live in"): the phone's
number (not "#149") and a changes column in the list, a search by a number typed in any form,
a date range in the operator's zone, and entry pages in words for every event kind (no Python
dict, raw JSON or True/False outside the payload as stored), times in one format with the zone's
name. Entries are made by the real services and signals, as in production."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry, AuditEvent, Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from backoffice.services import operator_change
from backoffice.tests.factories import PASSWORD
from phones.services import phone_create, phone_update
from phones.tests.factories import PhoneFactory
from provider_sync import links
from provider_sync.adapters.base import PermanentProviderError
from provider_sync.tests.conftest import claim_one, record_one

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:audit_auditentry_changelist")
ZONE = "America/Sao_Paulo"  # UTC-3 all year (no daylight saving since 2019)
CTX = AuditContext(origin=Origin.CRM, request_id="req-readable")
MINE = {"account_id": 10, "number": "91234-5678", "type": "MOBILE", "area_code": 11, "country_code": 55}
OTHER = {"account_id": 20, "number": "3333-4444", "type": "RESIDENTIAL", "area_code": 21, "country_code": 55}


@pytest.fixture(autouse=True)
def _operators_zone(settings):
    # The operator's zone is activated per request by the session's middleware (User.time_zone);
    # here the zone is the site's default and the one active in the test's thread.
    settings.TIME_ZONE = ZONE
    settings.MFA_REQUIRED_PERMISSIONS = []  # sign-ins with a password alone: the MFA tests are elsewhere
    with timezone.override(ZONE):
        yield


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


@pytest.fixture
def inspector(make_operator):
    return make_operator("inspetoria-operator", email="inspector@bank.example")


def page(client, url, **query):
    response = client.get(url, query)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def listed(client, **query):
    return list(client.get(LIST_URL, query).context["cl"].result_list)


def entry_url(entry):
    return reverse("admin:audit_auditentry_change", args=[entry.pk])


# --- The list --------------------------------------------------------------------------------------
def test_the_list_shows_the_number_and_what_changed(client, boss, inspector):
    phone = phone_create(actor=Actor.of(boss), context=CTX, **MINE)
    phone_update(
        actor=Actor.of(boss),
        context=CTX,
        account_id=phone.account_id,
        phone_id=phone.pk,
        data={"number": "95555-0000", "active": False},
    )
    client.force_login(inspector)
    text = page(client, LIST_URL)
    assert "+55 11 95555-0000" in text  # the phone's number, formatted
    assert f"#{phone.pk}" not in text and "Phone #" not in text
    trail = f'href="{LIST_URL}?phone={phone.pk}"'
    assert text.count(trail) == 2  # each entry's number opens the phone's trail
    assert "Number: 91234-5678 → 95555-0000; Active: Yes → No" in text
    assert "Extension: — → —" not in text  # nothing to nothing is no change
    # The creation: every value it set, in words ("Type: Mobile", not "MOBILE").
    assert "Type: — → Mobile" in text and "Active: — → Yes" in text and "Area code: — → 11" in text
    assert "Times are shown in America/Sao_Paulo." in text


def test_the_list_names_whom_an_access_event_is_about(client, boss, make_operator):
    root = make_operator(is_superuser=True, email="root@bank.example")
    operator_change(actor=root, operator=boss, roles=["crm-operator"], full_name="Bo Ss", is_active=True)
    client.force_login(root)
    text = page(client, LIST_URL, event__exact="operator_roles_changed")
    assert "boss@bank.example" in text  # the subject, in the number's column
    assert "Roles: backoffice-operator → crm-operator" in text


def _number_world(boss):
    mine = phone_create(actor=Actor.of(boss), context=CTX, **MINE)
    other = phone_create(actor=Actor.of(boss), context=CTX, **OTHER)
    phone_update(actor=Actor.of(boss), context=CTX, account_id=10, phone_id=mine.pk, data={"extension": "12"})
    return mine, other


@pytest.mark.parametrize("typed", ["+55 11 91234-5678", "11912345678", "912345678", "(11) 91234-5678"])
def test_a_number_typed_in_any_form_finds_the_phones_entries(client, boss, inspector, typed):
    mine, _ = _number_world(boss)
    client.force_login(inspector)
    found = listed(client, q=typed)
    assert [e.event for e in found] == ["phone_change", "phone_creation"]
    assert {e.phone_id for e in found} == {mine.pk}


def test_a_number_search_keeps_ids_and_finds_nothing_for_an_unknown_number(client, boss, inspector):
    _, other = _number_world(boss)
    client.force_login(inspector)
    assert listed(client, q="+55 11 90000-0000") == []
    assert {e.phone_id for e in listed(client, q=str(other.pk))} == {other.pk}  # a phone ID still works
    assert {e.account_id for e in listed(client, q="20")} == {20}  # and an account ID
    assert {e.operator_email for e in listed(client, q="BOSS@bank.example")} == {"boss@bank.example"}


def test_a_number_without_its_area_code_finds_every_phone_it_ends_and_says_when_too_many(
    client, boss, inspector, monkeypatch
):
    rio = phone_create(actor=Actor.of(boss), context=CTX, **{**MINE, "account_id": 30, "area_code": 21})
    mine, _ = _number_world(boss)
    client.force_login(inspector)
    assert {e.phone_id for e in listed(client, q="91234-5678")} == {mine.pk, rio.pk}
    monkeypatch.setattr("audit.admin.SEARCH_MAX_PHONES", 1)
    response = client.get(LIST_URL, {"q": "91234-5678"})
    assert {e.phone_id for e in response.context["cl"].result_list} == {rio.pk}  # the first phone's
    assert any("type it whole" in str(m) for m in get_messages(response.wsgi_request))


def test_an_operator_who_sees_only_its_own_entries_finds_no_other_by_number(client, boss, make_operator):
    _number_world(boss)
    crm = make_operator("crm-operator", email="crm@bank.example")
    client.force_login(crm)
    assert listed(client, q="+55 11 91234-5678") == []
    theirs = AuditEntry.objects.filter(phone__isnull=False).first()
    assert client.get(entry_url(theirs)).status_code == 302  # not found for this operator


def _queries_of_a_searched_list(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST_URL, {"q": "912345678", "created_at_from": "2000-01-01"})
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.context["cl"].result_list)


def test_the_searched_list_runs_as_many_queries_for_200_entries_as_for_20(client, boss, inspector):
    phone = phone_create(actor=Actor.of(boss), context=CTX, **MINE)
    client.force_login(inspector)

    def grow_to(total):
        while AuditEntry.objects.filter(phone=phone).count() < total:
            count = AuditEntry.objects.filter(phone=phone).count()
            phone_update(
                actor=Actor.of(boss), context=CTX, account_id=10, phone_id=phone.pk, data={"extension": str(count)}
            )

    grow_to(20)
    few, shown_few = _queries_of_a_searched_list(client)
    grow_to(200)
    many, shown_many = _queries_of_a_searched_list(client)
    assert (shown_few, shown_many) == (20, 50)
    assert few == many, (few, many)


# --- The date range --------------------------------------------------------------------------------
def test_the_date_range_includes_both_days_in_the_operators_zone(client, boss, inspector, monkeypatch):
    made = {}
    # Two entries either side of midnight in São Paulo (03:00 UTC): the first is on the 9th there,
    # the 10th in UTC; the second is at midnight of the 10th exactly, and the third on the 10th's
    # last second.
    for name, instant in (
        ("late_9th", datetime(2026, 3, 10, 2, 59, 59, tzinfo=UTC)),
        ("midnight_10th", datetime(2026, 3, 10, 3, 0, 0, tzinfo=UTC)),
        ("end_10th", datetime(2026, 3, 11, 2, 59, 59, tzinfo=UTC)),
        ("11th", datetime(2026, 3, 11, 3, 0, 0, tzinfo=UTC)),
    ):
        monkeypatch.setattr(timezone, "now", lambda instant=instant: instant)
        made[name] = PhoneFactory(actor=boss).pk
    monkeypatch.undo()
    client.force_login(inspector)

    def phones(**query):
        return {e.phone_id for e in listed(client, **query)}

    assert phones(created_at_from="2026-03-09", created_at_to="2026-03-09") == {made["late_9th"]}
    assert phones(created_at_from="2026-03-10", created_at_to="2026-03-10") == {made["midnight_10th"], made["end_10th"]}
    assert phones(created_at_from="2026-03-10") == {made["midnight_10th"], made["end_10th"], made["11th"]}
    assert phones(created_at_to="2026-03-09") == {made["late_9th"]}
    text = page(client, LIST_URL, created_at_from="2026-03-10", created_at_to="2026-03-10")
    assert "2026-03-10 00:00:00" in text and "2026-03-10 23:59:59" in text  # local times, one format
    assert "Date range (America/Sao_Paulo)" in text or "date range (America/Sao_Paulo)" in text


def test_the_dashboards_link_opens_the_list_from_the_operators_day(client, boss, inspector, monkeypatch):
    import warnings

    instant = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # the 9th, 23:00 in São Paulo
    monkeypatch.setattr(timezone, "now", lambda: instant + timedelta(hours=1))
    PhoneFactory(actor=boss)
    client.force_login(inspector)
    url = client.get(reverse("admin:index")).context["audit_url"]
    # The instant the 24 hours began, with its offset (the dashboard's links open exactly the rows
    # each figure counts).
    assert "?created_at__gte=2026-03-09T03%3A00%3A00%2B00%3A00" in url
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no naive time read as the server's
        assert len(client.get(url).context["cl"].result_list) == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"created_at_from": "garbage"}, "created_at_from"),
        ({"created_at_to": "2026-02-30"}, "created_at_to"),
        ({"created_at_to": "9" * 300}, "created_at_to"),
        ({"created_at_from": "2026-01-01\x00"}, "created_at_from"),
    ],
)
def test_a_date_that_is_not_one_is_ignored_with_a_message(client, boss, inspector, query, parameter):
    PhoneFactory(actor=boss)
    client.force_login(inspector)
    response = client.get(LIST_URL, query, follow=True)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1  # ignored, not applied
    assert any(f"“{parameter}”" in str(m) for m in get_messages(response.wsgi_request))


def test_the_range_keeps_the_other_filters(client, boss, inspector):
    mine, _ = _number_world(boss)
    client.force_login(inspector)
    today = timezone.localdate().isoformat()
    found = listed(client, created_at_from=today, created_at_to=today, event__exact="phone_change", q="11912345678")
    assert [(e.event, e.phone_id) for e in found] == [("phone_change", mine.pk)]


# --- Entry pages, every kind -----------------------------------------------------------------------
PAYLOAD_BLOCK = re.compile(r'<pre class="audit-payload[^"]*">(.*?)</pre>', re.S)


def _words_outside_the_payload(text):
    """The page's visible text, the payload block, scripts and styles left out."""
    text = PAYLOAD_BLOCK.sub("", text)
    text = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


@pytest.fixture
def every_kind(client, boss, make_operator, settings):
    """One entry (at least) of each event kind the services and signals write."""
    from backoffice import mfa
    from backoffice.service_accounts import api_key_issue, api_key_revoke, service_account_create
    from backoffice.tests.otp import enrolled

    settings.AXES_FAILURE_LIMIT = 2
    root = make_operator(is_superuser=True, email="root@bank.example")
    # Phones: created, changed, linked with settings, re-synced, a failed sync, unlinked.
    phone = phone_create(actor=Actor.of(boss), context=CTX, **MINE)
    phone_update(actor=Actor.of(boss), context=CTX, account_id=10, phone_id=phone.pk, data={"extension": "12"})
    settings_set = {"display_name": "Bank", "sms_service_plan_id": "plan-a"}
    links.provider_link_set(
        actor=Actor.of(boss), context=CTX, account_id=10, phone_id=phone.pk, provider="sinch", settings=settings_set
    )
    job = links.phone_resync(actor=Actor.of(boss), context=CTX, account_id=10, phone_id=phone.pk)
    claim = claim_one(job.pk)
    record_one(claim, None, PermanentProviderError("displayName is reserved", 400, ["40001"]))
    links.provider_link_remove(actor=Actor.of(boss), context=CTX, account_id=10, phone_id=phone.pk)
    # Access: sign-in, failures and lockout, its lifting, sign-out.
    jane = make_operator("crm-operator", email="jane@bank.example")
    client.post(reverse("admin:login"), {"username": "jane@bank.example", "password": PASSWORD})
    client.post(reverse("admin:logout"))
    for _ in range(2):
        client.post(reverse("admin:login"), {"username": "jane@bank.example", "password": "wrong"})
    call_command("axes_reset", stdout=io.StringIO())
    # Operators and roles.
    operator_change(actor=root, operator=jane, roles=["treasury-operator"], full_name="Jane Q", is_active=True)
    operator_change(actor=root, operator=jane, roles=["treasury-operator"], full_name="Jane Q", is_active=False)
    jane.set_password("another-long-passphrase-9")
    jane.save()
    client.force_login(root)
    role = Group.objects.get(name="treasury-operator")
    audit = Permission.objects.get(content_type__app_label="audit", codename="view_auditentry")
    client.post(
        reverse("admin:auth_group_change", args=[role.pk]),
        {"name": role.name, "permissions": [*role.permissions.values_list("pk", flat=True), audit.pk]},
    )
    b"".join(client.get(reverse("admin:phones_phone_export") + "?account=10").streaming_content)
    # MFA and service account keys.
    enrolled(boss)
    mfa.reset_mfa(root, boss)
    tool = service_account_create(email="etl@tools.bank.example", roles=["crm-operator"])
    key, _ = api_key_issue(operator=tool, name="etl", actor=root)
    api_key_revoke(prefix=key.prefix, revoked_by=root.email, actor=root)
    client.logout()
    return root


ALL_KINDS = [event.value for event in AuditEvent]
NOT_BUILT = {
    # Outcomes of a provider's scheduled provisioning and a push that succeeded need the
    # simulator (provider_sync/tests/test_delivery.py); their entries have the failed sync's form.
    AuditEvent.PHONE_SYNC_SUCCEEDED,
    AuditEvent.PHONE_PROVISIONING_FINISHED,
}


def test_the_fixture_builds_every_other_kind(every_kind):
    built = set(AuditEntry.objects.values_list("event", flat=True))
    assert built == set(ALL_KINDS) - NOT_BUILT, sorted(set(ALL_KINDS) - NOT_BUILT - built)


@pytest.mark.parametrize("event", sorted(set(ALL_KINDS) - NOT_BUILT))
def test_an_entry_page_is_in_words_outside_the_payload_as_stored(client, every_kind, event):
    client.force_login(every_kind)
    entry = AuditEntry.objects.filter(event=event).latest("id")
    text = page(client, entry_url(entry))
    words = _words_outside_the_payload(text)
    for python_or_json in ("{'", "[{", '{"', "True", "False", "None", "[]", "['"):
        assert python_or_json not in words, (event, python_or_json)
    assert entry.get_event_display() in words
    assert f"({ZONE})" in words  # the time's zone, named
    local = timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert local in words
    # The payload block: labelled, and exactly what is stored.
    assert "Payload (as stored)" in words
    (stored,) = PAYLOAD_BLOCK.findall(text)
    assert json.loads(html.unescape(stored)) == entry.payload
    assert "HMAC-SHA256" in words


def test_an_entry_page_shows_a_links_settings_as_a_table_and_booleans_in_words(client, every_kind):
    client.force_login(every_kind)
    linked = AuditEntry.objects.get(event="phone_link_change")
    words = _words_outside_the_payload(page(client, entry_url(linked)))
    assert re.search(r"Settings\s+—\s+→\s+Display name\s+Bank\s+SMS service plan ID\s+plan-a\s+Linked", words), words
    unlinked = AuditEntry.objects.get(event="phone_unlink")
    assert re.search(r"Linked\s+Yes\s+→\s+No", _words_outside_the_payload(page(client, entry_url(unlinked))))
    failed = AuditEntry.objects.get(event="phone_sync_failed")
    words = _words_outside_the_payload(page(client, entry_url(failed)))
    assert re.search(r"Status\s+Pending\s+→\s+Failed", words) and "displayName is reserved" in words
    signed_in = AuditEntry.objects.filter(event="operator_signed_in").latest("id")
    title = _words_outside_the_payload(page(client, entry_url(signed_in)))
    assert "Operator signed in: jane@bank.example" in title


def test_the_list_of_every_kind_is_in_words(client, every_kind):
    client.force_login(every_kind)
    words = _words_outside_the_payload(page(client, LIST_URL))
    for python_or_json in ("{'", "[{", "True", "False", "None"):
        assert python_or_json not in words, python_or_json
    assert "Rows exported: 1" in words and "Permissions added: audit.view_auditentry" in words
    assert "Key name: etl" in words


# --- At scale: an index read whatever the table's size ---------------------------------------------
@pytest.mark.postgres
def test_a_number_search_is_an_index_read_of_phones_and_entries(rf, boss, inspector):
    from audit.admin import AuditEntryAdmin

    phone_create(actor=Actor.of(boss), context=CTX, **MINE)
    request = rf.get(LIST_URL)
    request.user = inspector
    model_admin = AuditEntryAdmin(AuditEntry, None)
    for typed in ("+55 11 91234-5678", "11912345678", "912345678"):
        with CaptureQueriesContext(connection) as captured:
            queryset, _ = model_admin.get_search_results(request, AuditEntry.objects.order_by("-id"), typed)
            sql, params = queryset[:50].query.sql_with_params()
        (phone_lookup,) = [q["sql"] for q in captured.captured_queries]
        with connection.cursor() as cursor:
            # With sequential scans priced out, a plan that still has one has no index to use.
            cursor.execute("SET LOCAL enable_seqscan = off")
            plans = []
            for statement, values in ((phone_lookup, None), (sql, params)):
                cursor.execute(f"EXPLAIN {statement}", values)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        assert all("Seq Scan" not in plan for plan in plans), plans
        assert "audit_phone_idx" in plans[1], plans[1]


@pytest.mark.postgres
def test_a_request_id_search_is_an_index_read(rf, boss, inspector):
    """The request ID of an API error or a log line: its entries read from their index, not by
    scanning every entry (the search did, with no index on the column)."""
    from audit.admin import AuditEntryAdmin

    phone_create(actor=Actor.of(boss), context=CTX, **MINE)
    request = rf.get(LIST_URL)
    request.user = inspector
    queryset, _ = AuditEntryAdmin(AuditEntry, None).get_search_results(
        request, AuditEntry.objects.order_by("-id"), "req-readable"
    )
    sql, params = queryset[:50].query.sql_with_params()
    assert [entry.request_id for entry in queryset] == ["req-readable"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_request_idx" in plan, plan


@pytest.mark.postgres
@pytest.mark.slow
def test_a_number_search_at_300k_entries_reads_indexes_in_a_bounded_number_of_queries(
    client, boss, inspector, django_assert_max_num_queries
):
    """300,000 entries over 3,000 phones (the shape of 2,000,000 over 500,000, cheaper to build):
    the searched list's plan has no sequential scan, runs in milliseconds, and the page costs
    what it costs at 20 entries."""
    from phones.models import Phone

    mine = phone_create(actor=Actor.of(boss), context=CTX, **MINE)
    phones = []
    for i in range(3_000):
        phone = Phone(account_id=100_000 + i, number=f"8{i:07d}", type="MOBILE", area_code=21, country_code=55)
        phone.derive()
        phones.append(phone)
    Phone.objects.bulk_create(phones, batch_size=1_000)
    with connection.cursor() as cursor:
        # Test data only (the append-only table takes INSERTs): filler entries spread over the
        # phones, the searched phone's own entry among them.
        cursor.execute(
            """
            INSERT INTO audit_auditentry (event, domain, version, payload, changes, phone_id, account_id,
                operator_id, operator_email, operator_roles, origin, request_id, ip_address, created_at,
                prev_hash, hash)
            SELECT 'phone_change', 'audit', 1, '{"object": {}}'::jsonb, '{"extension": [null, "1"]}'::jsonb,
                p.id, p.account_id, NULL, 'filler@bank.example', '[]'::jsonb, 'API', '', NULL,
                now() - (g * interval '1 second'), '', md5(g::text)
            FROM generate_series(1, 300000) g
            JOIN (SELECT id, account_id, row_number() OVER (ORDER BY id) - 1 AS n FROM phones_phone
                  WHERE account_id >= 100000) p ON p.n = g % 3000
            """
        )
        cursor.execute("ANALYZE audit_auditentry")
        cursor.execute("ANALYZE phones_phone")
    client.force_login(inspector)
    for typed in ("+55 11 91234-5678", "11912345678", "912345678"):
        with django_assert_max_num_queries(8):
            found = listed(client, q=typed)
        assert [e.phone_id for e in found] == [mine.pk]
    from audit.admin import AuditEntryAdmin

    request = type("Request", (), {"user": inspector})()
    queryset, _ = AuditEntryAdmin(AuditEntry, None).get_search_results(
        request, AuditEntry.objects.order_by("-id"), "912345678"
    )
    sql, params = queryset[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()[0]
    text = json.dumps(plan)
    assert "Seq Scan" not in text, text
    assert plan["Execution Time"] < 50, plan["Execution Time"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_request_id_index_migration_builds_an_interrupted_index_anew():
    """CREATE INDEX CONCURRENTLY that fails or is cancelled leaves an invalid index, maintained by
    every write and used by no query: the migration run again builds it anew."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("audit.migrations.0011_request_id_index")

    def valid() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'audit_request_idx'::regclass")
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:  # as an interrupted build leaves it
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'audit_request_idx'::regclass")
    assert not valid()
    with connection.schema_editor(atomic=False) as editor:
        migration.forward(apps, editor)
    assert valid()
    with connection.schema_editor(atomic=False) as editor:
        migration.backward(apps, editor)
        migration.forward(apps, editor)
    assert valid()
