"""The phones list at 100k rows: a bounded number of queries, no full count, indexed search."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from phones.admin import PhoneAdmin, SyncStateFilter
from phones.models import Phone

ROWS = 100_000
# The list's sort orders by type, status and updated time (both directions), and its updated-time
# range, alone and with the other filters: each must stay one page read off an index.
SORTED_AND_DATED = (
    "?o=4",  # type (list_display: action checkbox, number, E.164, account, type, active, customer, sync, updated)
    "?o=-4",
    "?o=5",
    "?o=-5",
    "?o=8",
    "?o=-8",
    "?o=-8&type__exact=MOBILE",
    "?updated_at_from=2000-01-01&updated_at_to=2999-12-31",
    "?updated_at_from=2000-01-01&o=-8&active__exact=1",
    "?updated_at_to=2000-01-01",
)
# session, operator, roles+permissions, the count estimate, the page of rows (+ small slack)
MAX_QUERIES = 7


def _insert_phones(count: int) -> None:
    # Test data only: derived fields come from Phone.derive(), as the services would compute them.
    batch: list[Phone] = []
    for i in range(count):
        phone = Phone(account_id=i // 4 + 1, number=f"9{i:08d}", type="MOBILE", area_code=11, country_code=55)
        phone.derive()
        batch.append(phone)
        if len(batch) == 10_000:
            Phone.objects.bulk_create(batch)
            batch.clear()
    Phone.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE phones_phone")


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db
def test_phone_list_at_100k_rows_runs_a_bounded_number_of_queries(client, make_operator, django_assert_max_num_queries):
    started = time.monotonic()
    _insert_phones(ROWS)
    operator = make_operator("treasury-operator")
    client.force_login(operator)
    url = reverse("admin:phones_phone_changelist")
    for query in (
        "",
        "?p=3",
        "?q=0004242",
        "?q=+55 11 90000-4242",
        "?type__exact=MOBILE&active__exact=1",
        "?account=77",
        "?sync_state=failed",
        "?sync_state=not_linked",
        *SORTED_AND_DATED,
    ):
        with django_assert_max_num_queries(MAX_QUERIES), CaptureQueriesContext(connection) as captured:
            response = client.get(url + query)
        assert response.status_code == 200, query
        # Never a count(*) over the whole table: counts are estimates or capped with LIMIT.
        for sql in (q["sql"] for q in captured.captured_queries):
            if "COUNT(" in sql.upper():
                assert "LIMIT" in sql.upper(), sql
    listing = client.get(url)
    changelist = listing.context["cl"]
    assert len(changelist.result_list) == PhoneAdmin.list_per_page
    assert changelist.paginator.estimated and changelist.result_count > 50_000
    found = client.get(url + "?q=0004242").context["cl"].result_list
    assert "900004242" in [p.number for p in found]
    assert all("0004242" in p.number_digits or p.account_id == 4242 for p in found)
    formatted = client.get(url + "?q=(11) 90000-4242").context["cl"].result_list
    assert [p.e164 for p in formatted] == ["+5511900004242"]
    assert [p.account_id for p in client.get(url + "?account=77").context["cl"].result_list] == [77, 77, 77, 77]
    # Every new order reads its (column, id) index: no sort of the table for a page.
    for query, index in (
        ("?o=4", "phone_type_idx"),
        ("?o=-4", "phone_type_idx"),
        ("?o=5", "phone_active_idx"),
        ("?o=-5", "phone_active_idx"),
        ("?o=8", "phone_updated_idx"),
        ("?o=-8", "phone_updated_idx"),
    ):
        changelist = client.get(url + query).context["cl"]
        assert changelist.list_display[4:9:4] == ["type", "updated_at"]
        plan = _plan(changelist.result_list.query)
        assert index in plan and "Sort" not in plan, (query, plan)
    # The updated-time range: both days included, the rows are the whole table's. The day is the
    # operator's (their time zone's): a UTC date failed the test between 00:00 and 03:00 UTC.
    updated = Phone.objects.order_by("id").values_list("updated_at", flat=True).first()
    day = timezone.localtime(updated, ZoneInfo(operator.time_zone)).date().isoformat()
    dated = client.get(url + f"?updated_at_from={day}&updated_at_to={day}").context["cl"]
    assert len(dated.result_list) == PhoneAdmin.list_per_page
    assert client.get(url + "?updated_at_to=2000-01-01").context["cl"].result_list.count() == 0
    assert time.monotonic() - started < 90


def _plan(query) -> str:
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.django_db
def test_number_search_can_use_the_trigram_indexes():
    """The admin's ``contains`` lookups (``col::text LIKE``) match the gin_trgm indexes."""
    admin = PhoneAdmin(Phone, None)
    queryset, _ = admin.get_search_results(None, Phone.objects.all(), "1234-567")
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "phone_number_digits_trgm" in plan and "phone_e164_trgm" in plan, plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_accounts_page_in_id_order_reads_the_account_index():
    """An account whose phones are old, under many newer ones: without (account_id, id) the
    planner walked the primary key backwards for the LIMIT (480 ms at 1.5M rows)."""
    batch = []
    for i in range(20_000):
        phone = Phone(account_id=1 if i < 2_000 else i, number=f"9{i:08d}", type="MOBILE", area_code=11)
        phone.derive()
        batch.append(phone)
    Phone.objects.bulk_create(batch, batch_size=5_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE phones_phone")
    for ordering in ("-id", "id"):
        sql, params = Phone.objects.filter(account_id=1).order_by(ordering)[:100].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "phone_account_idx" in plan and "Sort" not in plan, plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_sync_state_filter_reads_the_links_sync_state_index(rf, make_operator):
    """The list's sync filter is a join to the link filtered on its indexed ``sync_state`` column
    (not the state in words, which needs each link's job): a million phones stay one index read."""
    request = rf.get("/", {"sync_state": "failed"})
    request.user = make_operator("treasury-operator")
    admin = PhoneAdmin(Phone, None)
    chosen = SyncStateFilter(request, {"sync_state": ["failed"]}, Phone, admin)
    sql, params = chosen.queryset(request, Phone.objects.order_by("-id"))[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "plink_sync_state_idx" in plan, plan
