"""The claim stays linear in the backlog whatever PostgreSQL's statistics say.

The statistics of the job table usually saw no open job (most rows are finished), so the
planner believes every index of open jobs holds one row. With the probes flattened into joins
and indexes of open jobs usable by any probe, it read the whole index of open jobs by due time
for each candidate's probe by link: a claim among a backlog of 1,000 jobs read 1,000,000 index
entries and took 1.2 s, and the burst ran at 80 changes/s. These tests build that situation
(statistics taken with no open job, then a backlog) and count the rows the statement's plan
threw away, a figure that does not depend on the machine's speed.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from phones.claim_statement import claim_sql
from phones.models import SyncJob, SyncJobStatus
from provider_sync.tests.conftest import linked_plivo_phones

# The worker's own claim: jobs stay pending at commit (``claim_in_worker``).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("claim_in_worker")]

BACKLOG = 300
LINKS = 30


@pytest.fixture(autouse=True)
def _setup(sync_settings, queued):
    pass


def _backlog(sim, make_linked_phone) -> list[int]:
    """``BACKLOG`` due jobs over ``LINKS`` links, after statistics that saw no open job."""
    linked_plivo_phones(sim, make_linked_phone, LINKS, account=900, numbers="555-03", alias="plan")
    now = timezone.now()
    SyncJob.objects.update(status=SyncJobStatus.SYNCED, finished_at=now)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SyncJob._meta.db_table}")
    models = list(SyncJob.objects.order_by("id"))
    copies = []
    for i in range(BACKLOG):
        job = models[i % LINKS]
        job.pk = None
        job.status, job.finished_at, job.next_attempt_at = SyncJobStatus.PENDING, None, now - timedelta(seconds=1)
        copies.append(SyncJob(**{f.attname: getattr(job, f.attname) for f in SyncJob._meta.concrete_fields}))
    return [job.pk for job in SyncJob.objects.bulk_create(copies)]


def _thrown_away(node: dict) -> int:
    """Rows the plan read and discarded, over every node and every loop."""
    own = sum(int(node.get(key, 0)) for key in ("Rows Removed by Filter", "Rows Removed by Join Filter"))
    return own * max(1, int(node.get("Actual Loops", 1))) + sum(_thrown_away(child) for child in node.get("Plans", []))


def _explain(sql: str, params: dict | None, *, seqscan: bool = True, analyze: bool = True) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            if not seqscan:
                # A test table is small enough to read whole; what matters is what the indexes
                # can serve when the table is not.
                cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN ({'ANALYZE, ' if analyze else ''}FORMAT JSON) " + sql, params)
            raw = cursor.fetchone()[0]
        finally:
            cursor.execute("ROLLBACK")
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]


@pytest.mark.parametrize("among", [True, False])
def test_a_claim_among_a_backlog_reads_its_candidates_once(sim, make_linked_phone, among):
    ids = _backlog(sim, make_linked_phone)
    now = timezone.now()
    params = {
        "job_id": ids[0],
        "limit": 32,
        "among": ids[:32],
        "now": now,
        "due_by": now + timedelta(seconds=0.5),
        "lease_until": now + timedelta(seconds=60),
        "token": uuid.uuid4(),
    }
    plan = _explain(claim_sql(single=False, among=among), params)
    thrown = _thrown_away(plan["Plan"])
    # Linear: each candidate's probes stop at their first entry of its own link or number. The
    # flattened plan threw away 22,410 here.
    assert thrown < 5 * BACKLOG, f"the claim read {thrown} rows it did not need"


def _uses_due_index(sql: str, params) -> str:
    return json.dumps(_explain(sql, params, seqscan=False, analyze=False))


def test_the_job_lists_open_status_filter_uses_the_due_index(sim, make_linked_phone, client, make_operator):
    """The job list filtered to pending jobs reads the open jobs' index, not the history."""
    _backlog(sim, make_linked_phone)
    client.force_login(make_operator("itibackoffice-operator", email="viewer@bank.example"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:phones_syncjob_changelist") + "?status__exact=pending")
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > 0
    listed = [q["sql"] for q in queries.captured_queries if "phones_syncjob" in q["sql"] and "pending" in q["sql"]]
    assert listed
    for sql in listed:
        assert "syncjob_due_idx" in _uses_due_index(sql, None), sql


def test_the_sweepers_and_dashboards_queries_use_the_due_index(sim, make_linked_phone):
    """The due jobs' index requires ``next_attempt_at`` to be set: the queries that read open jobs
    without a link or number say so, or they would read the whole table."""
    from provider_sync import dashboard, sweeper

    _backlog(sim, make_linked_phone)
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        list(sweeper.due_jobs(limit=1000))
        dashboard.retrying_now()
    assert len(statements) == 2
    for sql, params in statements:
        assert "syncjob_due_idx" in _uses_due_index(sql, params), sql


def test_the_workers_statements_are_planned_once_not_at_every_job(sim, make_linked_phone, operator):
    """Every statement that claims, records and changes a linked phone gets PostgreSQL's generic
    plan once psycopg has prepared it, instead of being planned anew for every job.

    A generic plan is kept only when it is about as cheap as one made for the values at hand; a
    partial index whose condition names a parameter is of no use to it. The record's job lock
    took its open statuses as parameters, so its plan was made again at every job (custom plans
    only: ~0.1 ms of PostgreSQL's CPU per job)."""
    from audit.models import Origin
    from audit.services import AuditContext
    from backoffice.actor import Actor
    from phones.services import phone_update
    from provider_sync.delivery import deliver

    phones = linked_plivo_phones(sim, make_linked_phone, 14, account=950, numbers="555-04", alias="plan")
    actor = Actor.of(operator)
    context = AuditContext(origin=Origin.API, request_id="req-plan")
    for phone in phones:
        deliver([SyncJob.objects.filter(phone_id=phone.pk).latest("pk").pk])  # the link's first sync
    # A history, as production's: most jobs finished, and statistics that saw it.
    finished = list(SyncJob.objects.order_by("pk"))
    SyncJob.objects.bulk_create(
        SyncJob(**{f.attname: getattr(job, f.attname) for f in SyncJob._meta.concrete_fields if f.attname != "id"})
        for _ in range(100)
        for job in finished
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SyncJob._meta.db_table}")
    for phone in phones:
        phone_update(
            actor=actor, context=context, account_id=phone.account_id, phone_id=phone.pk, data={"extension": "7"}
        )
        job = SyncJob.objects.filter(phone_id=phone.pk).latest("pk")
        assert deliver([job.pk]) == {job.pk: SyncJobStatus.SYNCED}
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    assert any('FOR UPDATE OF "phones_syncjob"' in sql for sql, _, _ in prepared)  # the record's job lock
    replanned = [sql for sql, generic, custom in prepared if generic == 0 and custom > 5]
    assert replanned == []


HISTORY = 400


def _long_history(sim, make_linked_phone) -> SyncJob:
    """A link with ``HISTORY`` finished jobs (a phone changed for years: jobs are kept) and a new
    pending job, then as many jobs of each of ``LINKS - 1`` other links (newer ids: the job is
    not the table's last), after statistics that saw them all."""
    ours, *others = linked_plivo_phones(sim, make_linked_phone, LINKS, account=970, numbers="555-05", alias="history")
    now = timezone.now()
    SyncJob.objects.update(status=SyncJobStatus.SYNCED, finished_at=now)
    fields = [f.attname for f in SyncJob._meta.concrete_fields if f.attname != "id"]

    first = {job.phone_id: job for job in SyncJob.objects.all()}  # each link's first sync

    def copies(phone, count: int) -> list[SyncJob]:
        model = first[phone.pk]
        return [SyncJob(**{name: getattr(model, name) for name in fields}) for _ in range(count)]

    SyncJob.objects.bulk_create(copies(ours, HISTORY))
    job = copies(ours, 1)[0]
    job.status, job.finished_at, job.next_attempt_at = SyncJobStatus.PENDING, None, now - timedelta(seconds=1)
    job.save(force_insert=True)
    SyncJob.objects.bulk_create([row for phone in others for row in copies(phone, HISTORY)])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SyncJob._meta.db_table}")
    return job


def test_a_claim_does_not_read_its_links_history(sim, make_linked_phone):
    """Whether a newer job of the link exists is one index probe, however many jobs the link
    had: by the link's own index it read every job the link ever had (each row's id checked on
    the table), by the primary key every newer job of every link, at every claim."""
    job = _long_history(sim, make_linked_phone)
    now = timezone.now()
    params = {
        "job_id": job.pk,
        "limit": 32,
        "among": [job.pk],
        "now": now,
        "due_by": now + timedelta(seconds=0.5),
        "lease_until": now + timedelta(seconds=60),
        "token": uuid.uuid4(),
    }
    for single, among in ((False, True), (True, False)):
        thrown = _thrown_away(_explain(claim_sql(single=single, among=among), params, seqscan=False)["Plan"])
        assert thrown < 20, f"the claim read {thrown} rows of the link's {HISTORY} finished jobs"


def test_the_records_job_lock_does_not_read_its_links_history(sim, make_linked_phone):
    """The record's lock of its jobs (with whether a newer one exists and the link's next open
    job) reads a few index entries, not the link's history."""
    from provider_sync.recording import _jobs_for_record

    job = _long_history(sim, make_linked_phone)
    with transaction.atomic():  # a locking query compiles only inside a transaction
        sql, params = _jobs_for_record(SyncJob.objects.filter(pk__in=[job.pk])).query.sql_with_params()
    thrown = _thrown_away(_explain(sql, params, seqscan=False)["Plan"])
    assert thrown < 20, f"the record's lock read {thrown} rows of the link's {HISTORY} finished jobs"


def test_the_claim_at_commit_counts_the_claims_out_from_the_leased_jobs_only(sim, make_linked_phone):
    """A change's claim at commit asks first whether fewer than ``max_out`` claims hold a lease:
    from the small index of leased jobs, never the table (jobs are kept, leases are few)."""
    job = _long_history(sim, make_linked_phone)
    now = timezone.now()
    params = {
        "job_id": job.pk,
        "limit": 1,
        "among": [],
        "now": now,
        "due_by": now + timedelta(seconds=0.5),
        "lease_until": now + timedelta(seconds=30),
        "token": uuid.uuid4(),
        "max_out": 4,
    }
    plan = _explain(claim_sql(single=True, bounded=True), params)
    scans = json.dumps(plan)
    assert '"Seq Scan"' not in scans, "the count of claims out read the job table"
    thrown = _thrown_away(plan["Plan"])
    assert thrown < 20, f"the claim at commit read {thrown} rows of the jobs' history"
