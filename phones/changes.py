"""The unit of work: the only code that writes phones, provider links, sync jobs and audit entries.

A service opens one (``with changes() as work``), locks the rows it changes through it, sets
fields, records audit entries and enqueues sync jobs; the unit of work moves each phone's audit
chain head in memory and flushes everything when the block ends, in one transaction (on
PostgreSQL a phone's UPDATE and its entries' INSERT are one statement). Nothing else saves a
``Phone``, ``ProviderLink``, ``SyncJob``, ``SyncAttempt`` or ``AuditEntry``.

Lock order, everywhere: phone, then link, then job (each kind in id order when there are several).
``lock_phone``/``lock_phones`` come first; a service that needs the link locks it after the phone;
delivery's claim takes jobs with ``SKIP LOCKED`` and never waits, so it cannot join a cycle.

What stays inside this module (and the statement builders it uses: ``backoffice.db``,
``backoffice.db_writes``): the reserved id block of new phones, the compiled locking statements,
and the chain-head convention: a phone created and never changed since has an empty
``audit_head`` (its creation entry is its whole chain; writing the head would cost the create an
UPDATE), so the lock reads that entry's hash in the same statement. Every later writer moves the
head under the phone's lock.

Why one module past 400 lines: it is the one writer on purpose. Its parts (locks, phone writes,
link and job writes, claim renewals, the flush) share the row state and the transaction, and
keeping every write here is what lets a test prove nothing else writes (``test_one_writer``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, CharField, OuterRef, QuerySet, Subquery, Value, When
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import AuditContext, build_entry
from backoffice.db import CompiledIdSelect, CompiledSelect, Fetch, fetch_together, sql_constant
from backoffice.db_writes import reserve_id, write_many, write_rows
from phones import claim_statement, outbox
from phones.errors import PhoneAlreadyExists, PhoneChangedMeanwhile, PhoneNotFound, ProviderNumberTaken
from phones.models import (
    DUPLICATE_CONSTRAINTS,
    LINK_NUMBER_CONSTRAINT,
    OPEN_JOB_STATUSES,
    Phone,
    ProviderLink,
    SyncJob,
    SyncJobStatus,
    SyncState,
)
from phones.versions import phone_version

if TYPE_CHECKING:
    from backoffice.actor import Actor


def _is_duplicate(error: IntegrityError) -> bool:
    return any(name in str(error) for name in DUPLICATE_CONSTRAINTS) or "UNIQUE constraint failed: phones_phone" in str(
        error
    )


def _domain_error(error: IntegrityError) -> Exception | None:
    """The domain's name for a constraint the database enforced, or None for a bug."""
    if _is_duplicate(error):
        return PhoneAlreadyExists()
    if LINK_NUMBER_CONSTRAINT in str(error) or "UNIQUE constraint failed: phones_providerlink" in str(error):
        return ProviderNumberTaken()
    return None


def _with_creation_hash(phones: QuerySet[Phone]) -> QuerySet[Phone]:
    """Annotate ``creation_hash``: for a phone whose head is still empty, its latest entry.

    An empty head on the row a lock returns (the latest committed version, even after a wait)
    means the creation entry is the whole chain. That entry committed with the row itself, so
    the locking statement's own snapshot sees it: no second round trip.
    """
    latest = AuditEntry.objects.filter(phone_id=OuterRef("pk")).order_by("-id").values("hash")[:1]
    return phones.annotate(
        creation_hash=Case(When(audit_head="", then=Subquery(latest)), default=Value(""), output_field=CharField())
    )


def _phone_for_update(_shape: None, *, account_id: int, phone_id: int) -> QuerySet[Phone]:
    return _with_creation_hash(Phone.objects.select_for_update(of=("self",)).filter(pk=phone_id, account_id=account_id))


def _active_link_for_update(_shape: None, *, phone_id: int) -> QuerySet[ProviderLink]:
    return ProviderLink.objects.select_for_update().filter(phone_id=phone_id, linked=True).order_by("pk")[:1]


def _phones_by_ids_for_update(ids: list[int]) -> QuerySet[Phone]:
    return _with_creation_hash(Phone.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))


def _links_by_ids_for_update(ids: list[int]) -> QuerySet[ProviderLink]:
    return ProviderLink.objects.select_for_update().filter(pk__in=ids).order_by("pk")


# Compiled once per process: these run in every change and every recorded sync job (profiled:
# compiling cost more than the round trip).
_PHONE_FOR_UPDATE = CompiledSelect(_phone_for_update)
_ACTIVE_LINK_FOR_UPDATE = CompiledSelect(_active_link_for_update)
_PHONES_BY_IDS_FOR_UPDATE = CompiledIdSelect(_phones_by_ids_for_update)
_LINKS_BY_IDS_FOR_UPDATE = CompiledIdSelect(_links_by_ids_for_update)


@cache
def _supersede_sql() -> str:
    """The open jobs of one link and target (provider, number) superseded: parameters status,
    finished_at, updated_at, link, provider, number. The open statuses are written into the text:
    as parameters, PostgreSQL could not use the partial index of open jobs in a plan made once for
    all runs, and planned the statement anew at every change of a linked phone."""
    quote, meta = connection.ops.quote_name, SyncJob._meta
    column = {
        name: quote(meta.get_field(name).column)
        for name in ("status", "finished_at", "updated_at", "link", "provider", "number")
    }
    statuses = ", ".join(sql_constant(status) for status in OPEN_JOB_STATUSES)
    return (
        f"UPDATE {quote(meta.db_table)} SET {column['status']} = %s, {column['finished_at']} = %s, "
        f"{column['updated_at']} = %s WHERE {column['link']} = %s AND {column['provider']} = %s "
        f"AND {column['number']} = %s AND {column['status']} IN ({statuses})"
    )


def _chain_head(phone: Phone) -> Phone:
    if not phone.audit_head:
        phone.audit_head = phone.creation_hash or ""  # type: ignore[attr-defined]
    return phone


def _require_transaction(what: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        # The ORM checks this when it compiles; compiled statements are reused, so check here.
        raise TransactionManagementError(f"{what} needs the unit of work's transaction")


def _entry(phone: Phone, *, prev_hash: str, **what: Any) -> AuditEntry:
    """An entry about ``phone`` chained to ``prev_hash`` (``what``: actor, event, context, obj,
    changes)."""
    return build_entry(phone_id=phone.pk, account_id=phone.account_id, prev_hash=prev_hash, **what)


def create_phone(
    phone: Phone,
    *,
    actor: Actor,
    event: str,
    context: AuditContext,
    obj: dict[str, Any],
    changes: dict[str, list[Any]],
) -> Phone:
    """Insert a new phone and its creation entry, all or nothing; returns it with its id.

    PostgreSQL: the id is reserved first (the entry's hash covers it) and both rows go in one
    statement, a transaction by itself (no BEGIN/COMMIT round trips); inside a caller's
    transaction (admin, commands) under a savepoint, so a duplicate leaves that transaction
    usable. SQLite: the insert assigns the id and the entry follows, in an atomic block.
    Raises ``PhoneAlreadyExists`` when the partial unique index refuses the number.
    """

    def entry() -> AuditEntry:
        # The head stays empty: the creation entry is the whole chain (see the module docstring).
        return _entry(phone, prev_hash="", actor=actor, event=event, context=context, obj=obj, changes=changes)

    phone.pk = reserve_id(Phone)
    try:
        if phone.pk is not None:
            with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
                write_rows(insert=[phone, entry()])
        else:
            with transaction.atomic():
                write_rows(insert=[phone])
                write_rows(insert=[entry()])
    except IntegrityError as error:
        found = _domain_error(error)
        if found is None:
            raise
        raise found from error
    return phone


class UnitOfWork:
    """One transaction's rows and writes; made by ``changes()``, flushed when its block ends."""

    def __init__(self) -> None:
        self.phones: dict[int, Phone] = {}
        self._dirty: dict[int, list[str]] = {}
        self._entries: list[AuditEntry] = []
        # Phones locked one at a time are flushed with a combined statement each; phones locked
        # as a batch (the worker's record of several jobs) and all their rows in one statement.
        self._batch = False
        # Rows to insert and rows' updates held for that statement.
        self._inserts: list[models.Model] = []
        self._updates: list[tuple[models.Model, list[str]]] = []
        # The sync jobs this unit of work queued: a lone one is claimed before the commit.
        self._jobs: list[SyncJob] = []

    # --- phones -----------------------------------------------------------------------------

    def lock_phone(self, *, account_id: int, phone_id: int, expected_version: str | None = None) -> Phone:
        """Lock the phone row; ``audit_head`` and ``provider_linked`` are then current (both are
        written only under this lock, and a FOR UPDATE that waited returns the committed row).
        Raises ``PhoneNotFound`` when the phone is not in ``account_id``, and
        ``PhoneChangedMeanwhile`` when ``expected_version`` is given and is not the locked row's
        version (``phones.versions``): compared here, under the lock, because a comparison made
        before it could pass for two writers that read the same version."""
        _require_transaction("lock_phone")
        rows = _PHONE_FOR_UPDATE.fetch(account_id=account_id, phone_id=phone_id)
        if not rows:
            raise PhoneNotFound()
        if expected_version is not None and (current := phone_version(rows[0])) != expected_version:
            raise PhoneChangedMeanwhile(current)
        phone = self.phones[phone_id] = _chain_head(rows[0])
        return phone

    def lock_phones(self, phone_ids: Iterable[int]) -> dict[int, Phone]:
        """Lock several phones in id order (two batch writers never wait on each other in a
        cycle); missing ids are absent from the answer."""
        _require_transaction("lock_phones")
        return self._locked_phones(fetch_together(self._phone_locks(phone_ids)))

    def _phone_locks(self, phone_ids: Iterable[int]) -> list[Fetch]:
        ids = sorted(set(phone_ids))
        if len(ids) > 1:
            self._batch = True  # one phone's writes (a lone job's record) go in one statement at the flush
        return _PHONES_BY_IDS_FOR_UPDATE.fetches(ids)

    def _locked_phones(self, answers: Iterable[list[Phone]]) -> dict[int, Phone]:
        found = {phone.pk: _chain_head(phone) for rows in answers for phone in rows}
        self.phones.update(found)
        return found

    def lock_together(
        self, phone_ids: Iterable[int], link_ids: Iterable[int], rows: Sequence[Fetch]
    ) -> tuple[dict[int, Phone], dict[int, ProviderLink], list[Any]]:
        """Lock phones, then links, then the caller's rows (``rows``: compiled
        ``select_for_update`` queries, ``backoffice.db.Fetch``, jobs ordered by id), each kind in
        id order: the lock order of every writer, in one round trip on PostgreSQL (the
        statements still run one after the other, ``backoffice.db.fetch_together``). Returns the
        phones and links by id (missing ids absent) and the rows. The worker's record: its BEGIN
        and three locks went in four round trips."""
        _require_transaction("lock_together")
        phone_locks = self._phone_locks(phone_ids)
        link_locks = _LINKS_BY_IDS_FOR_UPDATE.fetches(sorted(set(link_ids)))
        answers = fetch_together([*phone_locks, *link_locks, *rows])
        phones = self._locked_phones(answers[: len(phone_locks)])
        links_end = len(phone_locks) + len(link_locks)
        links = {link.pk: link for found in answers[len(phone_locks) : links_end] for link in found}
        return phones, links, [row for found in answers[links_end:] for row in found]

    def _mark(self, phone: Phone, fields: Iterable[str]) -> None:
        dirty = self._dirty.setdefault(phone.pk, [])
        dirty.extend(field for field in fields if field not in dirty)

    def set(self, phone: Phone, values: Mapping[str, Any]) -> list[str]:
        """Set a locked phone's editable fields and re-derive ``number_digits``/``e164``;
        returns the editable fields whose value changed (nothing is marked when none did)."""
        changed = [field for field, value in values.items() if getattr(phone, field) != value]
        if changed:
            for field in changed:
                setattr(phone, field, values[field])
            self._mark(phone, [*changed, *phone.derive(), "updated_at"])
        return changed

    def set_linked(self, phone: Phone, linked: bool) -> None:
        if phone.provider_linked != linked:
            phone.provider_linked = linked
            self._mark(phone, ["provider_linked"])

    def record(
        self,
        phone: Phone,
        *,
        actor: Actor,
        event: str,
        context: AuditContext,
        obj: dict[str, Any],
        changes: dict[str, list[Any]],
    ) -> AuditEntry:
        """Append an audit entry to the locked phone's chain and move its head (in memory)."""
        entry = _entry(
            phone, prev_hash=phone.audit_head, actor=actor, event=event, context=context, obj=obj, changes=changes
        )
        phone.audit_head = entry.hash
        self._mark(phone, ["audit_head"])
        self._entries.append(entry)
        return entry

    # --- provider links ---------------------------------------------------------------------

    def lock_link(self, phone: Phone, *, active_only: bool = False) -> ProviderLink | None:
        """Lock the phone's provider link (after the phone: lock order), or None. ``active_only``:
        only a link that is still linked (the hot path of every change of a linked phone)."""
        _require_transaction("lock_link")
        if active_only:
            links = _ACTIVE_LINK_FOR_UPDATE.fetch(phone_id=phone.pk)
            link = links[0] if links else None
        else:
            link = ProviderLink.objects.select_for_update().filter(phone_id=phone.pk).first()
        if link is not None:
            link.phone = phone  # the locked, current instance: no second read of the phone
        return link

    def lock(self, queryset: QuerySet[Any]) -> list[Any]:
        """Lock the rows of a ``select_for_update`` query built by the caller (links and jobs of a
        batch, in id order, after their phones)."""
        _require_transaction("lock")
        if not queryset.query.select_for_update:
            raise ValueError("UnitOfWork.lock takes a select_for_update() query")
        return list(queryset)

    def save_link(self, link: ProviderLink, fields: Sequence[str] = (), *, retarget: bool = False) -> None:
        """Insert a new link, or write ``fields`` of a locked one (``updated_at`` included).

        The number a link holds at its provider (``target_number``) follows its remote number or
        its phone's: recomputed for a new link, a change of ``remote_number``, or ``retarget``
        (its phone's number changed). The database refuses a second linked link to one provider
        number (``ProviderNumberTaken`` when the unit of work ends)."""
        fields = list(fields)
        recompute = link.pk is None or retarget or "remote_number" in fields
        if recompute and link.number_e164 != link.target_number:
            link.target_number = link.number_e164
            fields.append("target_number")
        if link.pk is None:
            link.save(force_insert=True)
        else:
            link.save(update_fields=[*fields, "updated_at"])

    # --- sync jobs (the outbox) -------------------------------------------------------------

    def enqueue_job(
        self,
        *,
        link: ProviderLink,
        phone: Phone,
        reason: str,
        actor: Actor,
        context: AuditContext,
        desired: dict[str, Any] | None = None,
        provider: str | None = None,
        number: str | None = None,
    ) -> SyncJob:
        """Write the outbox row for ``link`` (default target: its provider, number and desired
        state), published to the workers when the transaction commits. The phone's pending writes
        go in the same statement when they are all the unit of work holds (a change of a linked
        phone: its fields and its entry), and are not left for the flush.

        Open jobs for the same target are superseded: the newest desired state wins and stale ones
        are never pushed. Jobs for another target (an old number being released) stay and run
        first, in order.
        """
        _require_transaction("enqueue_job")
        provider = provider or link.provider
        number = number or link.number_e164
        if desired is None:
            desired = outbox.desired_settings(link, phone)
        now = timezone.now()
        previous = link.pushed_settings
        if previous is None:
            # Nothing confirmed at the provider yet: the last desired state is the best guess.
            same_target = SyncJob.objects.filter(link=link, provider=provider, number=number)
            previous = same_target.order_by("-id").values_list("desired", flat=True).first()
        job = SyncJob(
            link=link,
            phone=phone,
            provider=provider,
            number=number,
            reason=reason,
            desired=desired,
            previous=previous if provider == link.provider else None,
            next_attempt_at=now,
            operator_id=actor.id,
            operator_email=actor.email,
            operator_roles=list(actor.roles),
            origin=context.origin,
            request_id=context.request_id,
        )
        shown: list[tuple[models.Model, list[str]]] = []
        if link.sync_state != SyncState.PENDING:
            link.sync_state = SyncState.PENDING
            shown.append((link, ["sync_state", "updated_at"]))
        # One statement (on every change of a linked phone): the older open jobs of the target
        # superseded, the new job, what its link shows. The supersede does not see the new row
        # (one statement, one snapshot). locked_until is kept: a superseded job still out at the
        # provider blocks the next one until it is back, so two pushes for one number never
        # overlap.
        at = connection.ops.adapt_datetimefield_value(now)  # as the ORM writes it (SQLite: naive UTC text)
        supersede = (
            _supersede_sql(),
            [SyncJobStatus.SUPERSEDED, at, at, link.pk, provider, number],
        )
        # The change's own pending writes (its phone's fields and entries, when they are all the
        # unit of work holds) go in the same statement: a change of a linked phone writes in one
        # round trip, not two.
        update, entries = self._take_phone_writes(phone)
        write_rows(update=update, insert=[*entries, job], updates=shown, statements=[supersede])
        outbox.publish_on_commit(job.pk)
        self._jobs.append(job)
        return job

    def claim_lone_job(self) -> None:
        """Claim the job of a change that queued one (a change of one linked phone), in the
        change's transaction, and publish it claimed on commit (``outbox.publish_claimed_on_commit``):
        the worker then pushes it without a claim of its own, a round trip and a WAL flush less
        between the commit and the provider. Called by ``changes()`` after the flush.

        The same statement as a worker's claim (``claim_due_jobs``), so the same rules: it claims
        nothing while an older job of the link or of the number is open, or another claim of
        either holds a lease; the job is then published unclaimed, as any other. A statement of
        its own after the job's: its snapshot is taken after the supersede waited for any claim of
        the older jobs in flight, so it sees that claim's lease. Nor while
        ``SYNC_CLAIM_AT_COMMIT_MAX_OUT`` claims are out: a job claimed at commit is pushed by its
        own message alone, and when the workers fall behind, jobs left pending are taken in
        batches of ``SYNC_BATCH_SIZE`` pushed concurrently. PostgreSQL only (the one-statement
        claim); a batch, a unit of work that queued several jobs (a release goes before its
        link's next job), or one inside a larger transaction (a bulk change: its jobs go in
        batches, ``outbox.CommitBatch``) publishes them unclaimed.
        """
        if self._batch or len(self._jobs) != 1 or connection.vendor != "postgresql":
            return
        if not settings.SYNC_CLAIM_AT_COMMIT:
            return
        (job,) = self._jobs
        now = timezone.now()
        token = uuid.uuid4()
        # Three provider timeouts (``SYNC_CLAIM_AT_COMMIT``), never more than a worker's lease.
        lease = min(settings.SYNC_LEASE_SECONDS, 3 * settings.PROVIDER_TIMEOUT_SECONDS)
        lease_until = now + timedelta(seconds=lease)
        rows = claim_due_jobs(
            job_id=job.pk,
            limit=1,
            now=now,
            due_by=now,
            lease_until=lease_until,
            token=token,
            max_out=settings.SYNC_CLAIM_AT_COMMIT_MAX_OUT,
        )
        if rows:
            outbox.publish_claimed_on_commit(rows[0], token=token, lease_until=lease_until)

    def _take_phone_writes(self, phone: Phone) -> tuple[tuple[Phone, list[str]] | None, list[AuditEntry]]:
        """``phone``'s pending fields and entries, taken out of the flush for the caller's
        statement, when they are all that is pending (no other phone, no held rows, not a batch);
        otherwise nothing is taken."""
        if self._batch or self._inserts or self._updates or set(self._dirty) - {phone.pk}:
            return None, []
        if any(entry.phone_id != phone.pk for entry in self._entries):
            return None, []
        fields = self._dirty.pop(phone.pk, None)
        entries, self._entries = self._entries, []
        return (self.phones[phone.pk], fields) if fields else None, entries

    def touch_jobs(self, job_ids: Sequence[int], **values: Any) -> int:
        """Set ``values`` on these jobs in one UPDATE (claims, callbacks' nudges)."""
        if not job_ids:
            return 0
        return SyncJob.objects.filter(pk__in=list(job_ids)).update(**values)

    def add_rows(self, model: type[models.Model], rows: Iterable[models.Model]) -> None:
        """Insert new child rows (a batch's HTTP attempts), with the phones' writes at the flush."""
        self._inserts.extend(rows)

    def update_rows(self, rows: Iterable[tuple[models.Model, list[str]]]) -> None:
        """Write each locked object's listed fields (jobs and links of a recorded batch), with the
        phones' writes at the flush."""
        self._updates.extend((obj, list(names)) for obj, names in rows)

    def on_commit(self, hook: Callable[[], None]) -> None:
        transaction.on_commit(hook)

    # --- flush ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is pending: each changed phone and the entries that record it. One phone
        locked alone: its UPDATE, its entries' INSERT and the held rows in one statement
        (PostgreSQL). A batch: every phone, entry and held row in one statement too
        (``write_many``: one INSERT per table, one UPDATE per table and set of fields)."""
        dirty, entries = self._dirty, self._entries
        held_inserts, held_updates = self._inserts, self._updates
        self._dirty, self._entries, self._inserts, self._updates = {}, [], [], []
        if not self._batch:
            by_phone: dict[int | None, list[AuditEntry]] = {}
            for entry in entries:
                by_phone.setdefault(entry.phone_id, []).append(entry)
            for phone_id, fields in dirty.items():
                # The held rows and updates go with the first phone's statement.
                write_rows(
                    update=(self.phones[phone_id], fields),
                    insert=[*by_phone.pop(phone_id, []), *held_inserts],
                    updates=held_updates,
                )
                held_inserts, held_updates = [], []
            rest = [entry for entries_of in by_phone.values() for entry in entries_of]
            write_rows(insert=[*rest, *held_inserts], updates=held_updates)
            return
        # One statement whatever the batch's size; a phone's entries keep their order (one
        # INSERT of all entries assigns keys in the order given: a chain is read in key order).
        write_many(
            inserts=[*entries, *held_inserts],
            updates=[*((self.phones[pk], fields) for pk, fields in dirty.items()), *held_updates],
        )


def renew_claims(job_ids: Sequence[int], token: Any, *, until: Any, now: Any) -> set[int]:
    """Extend the lease of these jobs to ``until`` where the claim ``token`` still holds them (the
    job is in progress or provisioning under that token and its lease has not lapsed); returns the
    ids still held. One statement, its own transaction: the fence's check before every provider
    call and its renewal of a running batch (``provider_sync.fencing``)."""
    if not job_ids:
        return set()
    ops, quote = connection.ops, connection.ops.quote_name
    token_field = SyncJob._meta.get_field("claim_token")
    marks = ", ".join(["%s"] * len(job_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(SyncJob._meta.db_table)} SET {quote('locked_until')} = %s "
            f"WHERE {quote('id')} IN ({marks}) AND {quote('claim_token')} = %s "
            f"AND {quote('status')} IN (%s, %s) AND {quote('locked_until')} > %s RETURNING {quote('id')}",
            [
                ops.adapt_datetimefield_value(until),
                *job_ids,
                token_field.get_db_prep_value(token, connection),
                SyncJobStatus.IN_PROGRESS,
                SyncJobStatus.PROVISIONING,
                ops.adapt_datetimefield_value(now),
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def claim_due_jobs(
    *,
    job_id: int,
    limit: int,
    now: Any,
    due_by: Any,
    lease_until: Any,
    token: Any,
    among: Sequence[int] | None = None,
    max_out: int | None = None,
) -> list[dict[str, Any]]:
    """Claim sync jobs in one PostgreSQL statement, its own transaction (``phones.claim_statement``):
    ``job_id`` alone when ``limit`` is 1, else the oldest due ``limit`` jobs (with ``among``, only
    while one of those jobs is claimable itself); each gets ``token``
    and the lease ``lease_until``, and its link shows the push. Returns the claimed jobs as dicts
    of ``claim_statement.COLUMNS`` (``status`` and ``attempts`` as the claim left them). With
    ``max_out``, nothing while that many claims hold a lease. Never waits on a lock (``SKIP
    LOCKED``). PostgreSQL only: other databases claim the plain way."""
    if connection.vendor != "postgresql":
        raise NotImplementedError("the one-statement claim is PostgreSQL's")
    ops = connection.ops
    token_field = SyncJob._meta.get_field("claim_token")
    params = {
        "job_id": job_id,
        "limit": limit,
        "among": list(among or ()),
        "now": ops.adapt_datetimefield_value(now),
        "due_by": ops.adapt_datetimefield_value(due_by),
        "lease_until": ops.adapt_datetimefield_value(lease_until),
        "token": token_field.get_db_prep_value(token, connection),
        "max_out": max_out,
    }
    sql = claim_statement.claim_sql(single=limit <= 1, among=among is not None, bounded=max_out is not None)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    claimed = []
    for row in rows:
        job = dict(zip(claim_statement.COLUMNS, row, strict=True))
        for name in ("desired", "previous"):
            # Django reads jsonb as text and decodes in the field; a raw cursor does the same.
            if isinstance(job[name], str):
                job[name] = json.loads(job[name])
        claimed.append(job)
    return claimed


def touch_links(queryset: QuerySet[ProviderLink], **values: Any) -> int:
    """Set ``values`` on the links of ``queryset`` in one UPDATE, a statement of its own: what a
    claim shows on its links, after the claim's transaction (lock order: links before jobs)."""
    return queryset.update(**values)


@contextmanager
def changes() -> Iterator[UnitOfWork]:
    """A unit of work in its own transaction (or a savepoint of the caller's), flushed when the
    block ends without an error; a duplicate number found at the flush raises
    ``PhoneAlreadyExists`` after the rollback."""
    work = UnitOfWork()
    # Its own transaction, not a part of a larger one (a bulk change's, whose jobs go in batches).
    alone = not transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic():
            yield work
            work.flush()
            if alone:
                work.claim_lone_job()
    except IntegrityError as error:
        found = _domain_error(error)
        if found is None:
            raise
        raise found from error
