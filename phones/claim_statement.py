"""The SQL of a sync-job claim as one PostgreSQL statement (``phones.changes.claim_due_jobs``).

A speed trick kept in one place: the plain way (``provider_sync.claims._claim_plain``, the ORM,
used on other databases) takes five round trips and compiles two querysets with four ``EXISTS``
probes per claim; profiled on the worker it cost more than the provider call it precedes. This
statement does the same in one round trip, in its own transaction:

1. ``picked``: the claimable jobs (due, or in progress with a lapsed lease; none with an older
   open job or another claim's lease on its link or its provider number), ``FOR UPDATE SKIP
   LOCKED``, either the one job asked for or the oldest due ``limit`` ones (optionally only while
   one of the jobs a task was sent for is claimable: a task whose jobs are done does nothing);
2. ``claimed``: marks them claimed (token, lease, attempt or poll counted) and returns them,
   with whether a newer job of their link exists;
3. ``shown``: shows "in progress" on their links, for pushes that are the link's newest job when
   no other job of the link waits. Links are taken ``SKIP LOCKED``: the statement never waits on
   a lock (a service holding the link is changing it and sets what it shows), so it cannot join
   a lock cycle although it holds jobs while touching links.

Each probe ends in ``OFFSET 0``, which keeps PostgreSQL from flattening it into a join: it runs
per candidate with the candidate's link or number as a constant, so it reads that key's entries
of the indexes of its own key (``SyncJob.Meta``) and stops at the first. Flattened, and with
statistics that saw no open job (the usual case: most jobs are finished), the plan read the whole
index of open jobs for every candidate: a claim among a backlog of 1,000 jobs took 1.2 s
(``provider_sync/tests/test_claim_plan.py``).

``provider_sync/tests/test_claims.py`` runs both ways on the same states and compares the claims
and every row they leave.
"""

from __future__ import annotations

from functools import cache

from backoffice.db import sql_constant
from phones.models import OPEN_JOB_STATUSES, ProviderLink, SyncJob, SyncJobStatus, SyncState

# What the statement returns, in order; ``newer`` is whether a newer job of the link exists.
COLUMNS = (
    "id",
    "status",
    "provider",
    "number",
    "reason",
    "desired",
    "previous",
    "attempts",
    "phone_id",
    "link_id",
    "newer",
)


@cache
def claim_sql(*, single: bool, among: bool = False, bounded: bool = False) -> str:
    """The statement; ``single``: the job ``%(job_id)s`` only, else the oldest due ``%(limit)s``,
    and with ``among`` only while one of the jobs ``%(among)s`` (a list) is claimable itself;
    with ``bounded``, only while fewer than ``%(max_out)s`` claims hold a lease (a change's claim
    at commit: past that, the workers are behind and its job goes with the others in batches).
    Parameters: job_id, limit, among, now, due_by, lease_until, token, max_out."""
    jobs, links = SyncJob._meta.db_table, ProviderLink._meta.db_table
    open_ = ", ".join(sql_constant(status) for status in OPEN_JOB_STATUSES)
    pending, provisioning = sql_constant(SyncJobStatus.PENDING), sql_constant(SyncJobStatus.PROVISIONING)
    in_progress = sql_constant(SyncJobStatus.IN_PROGRESS)
    # ``next_attempt_at <= due_by`` for every claimable job, in progress too (a job goes in
    # progress only once due, and nothing moves its due time while it is): the candidates are
    # then read from the index of due jobs, which serves only queries that bound the due time.
    claimable = (
        f"{{t}}.next_attempt_at <= %(due_by)s"
        f" AND {{t}}.status IN ({open_})"
        f" AND ({{t}}.locked_until IS NULL OR {{t}}.locked_until <= %(now)s)"
    )
    which = "AND j.id = %(job_id)s" if single else ""
    if among and not single:
        which = f"AND EXISTS (SELECT 1 FROM {jobs} x WHERE x.id = ANY(%(among)s) AND {claimable.format(t='x')})"
    if bounded:
        # Counted up to the bound, from the small index of leased jobs (its condition needs the
        # link set, which this states).
        which += (
            f" AND (SELECT count(*) FROM (SELECT 1 FROM {jobs} b WHERE b.locked_until > %(now)s"
            f" AND b.link_id IS NOT NULL LIMIT %(max_out)s) out) < %(max_out)s"
        )
    order = "" if single else "ORDER BY j.next_attempt_at, j.id LIMIT %(limit)s"
    return f"""
WITH picked AS (
    SELECT j.id FROM {jobs} j
    WHERE {claimable.format(t="j")}
      {which}
      AND NOT EXISTS (SELECT 1 FROM {jobs} o
                      WHERE o.link_id = j.link_id AND o.status IN ({open_}) AND o.id < j.id OFFSET 0)
      AND NOT EXISTS (SELECT 1 FROM {jobs} o
                      WHERE o.link_id = j.link_id AND o.locked_until > %(now)s AND o.id <> j.id OFFSET 0)
      AND NOT EXISTS (SELECT 1 FROM {jobs} o
                      WHERE o.provider = j.provider AND o.number = j.number
                        AND o.status IN ({open_}) AND o.id < j.id OFFSET 0)
      AND NOT EXISTS (SELECT 1 FROM {jobs} o
                      WHERE o.provider = j.provider AND o.number = j.number
                        AND o.locked_until > %(now)s AND o.id <> j.id OFFSET 0)
    {order}
    FOR UPDATE OF j SKIP LOCKED
), claimed AS (
    UPDATE {jobs} j SET
        status = CASE WHEN j.status = {provisioning} THEN {provisioning} ELSE {in_progress} END,
        attempts = CASE WHEN j.status = {provisioning} THEN j.attempts ELSE j.attempts + 1 END,
        polls = CASE WHEN j.status = {provisioning} THEN j.polls + 1 ELSE j.polls END,
        locked_until = %(lease_until)s,
        claim_token = %(token)s,
        first_claimed_at = COALESCE(j.first_claimed_at, %(now)s),
        updated_at = %(now)s
    FROM picked WHERE j.id = picked.id
    RETURNING j.id, j.status, j.provider, j.number, j.reason, j.desired, j.previous, j.attempts,
              j.phone_id, j.link_id, j.next_attempt_at,
              EXISTS (SELECT 1 FROM {jobs} n WHERE n.link_id = j.link_id AND n.id > j.id) AS newer
), free_links AS (
    SELECT l.id FROM {links} l WHERE l.id IN (SELECT link_id FROM claimed)
    FOR UPDATE SKIP LOCKED
), shown AS (
    UPDATE {links} l SET
        last_attempt_at = %(now)s,
        updated_at = %(now)s,
        sync_state = CASE
            WHEN c.status <> {provisioning} AND NOT c.newer
                 AND NOT EXISTS (SELECT 1 FROM {jobs} w
                                 WHERE w.link_id = l.id AND w.status = {pending}
                                   AND w.id NOT IN (SELECT id FROM claimed) OFFSET 0)
            THEN {sql_constant(SyncState.IN_PROGRESS)} ELSE l.sync_state END
    FROM claimed c WHERE l.id = c.link_id AND l.id IN (SELECT id FROM free_links)
)
SELECT {", ".join(COLUMNS)} FROM claimed ORDER BY next_attempt_at, id
"""
