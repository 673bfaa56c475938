"""One writer: every write of a phone, link, job, attempt or audit entry, from every service,
comes from the unit of work (``phones/changes.py``); entries about no phone (access and operator
events) and their chain head come from the access chain's writer (``audit/access.py``) only.
Runs the services and watches the ORM's write paths and ``backoffice.db_writes``
(``write_rows``, ``write_many``), noting which application module asked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.db.models import Model, QuerySet

from audit.models import AuditChainHead, AuditEntry, Origin
from audit.services import AuditContext
from backoffice import db_writes
from backoffice.actor import Actor
from phones import changes
from phones.models import Phone, ProviderLink, SyncAttempt, SyncJob
from phones.services import phone_create, phone_inactivate, phone_update
from provider_sync import callbacks, claims, links, recording
from provider_sync.adapters import PermanentProviderError

pytestmark = pytest.mark.django_db
WATCHED = (Phone, ProviderLink, SyncJob, SyncAttempt, AuditEntry, AuditChainHead)
ROOT = Path(__file__).resolve().parents[2]
CTX = AuditContext(origin=Origin.COMMAND)


def _asking_module() -> str:
    """The application file (not a test, not the statement builders) that made the write."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        ours = ROOT in path.parents and not {".venv", "site-packages"} & set(path.parts)
        # db_writes.py builds the statements; audit/models.py's AuditEntry.save only refuses
        # updates and passes an insert on: the module that asked is further up.
        passing_on = path.name == "db_writes.py" or path.parts[-2:] == ("audit", "models.py")
        if ours and "tests" not in path.parts and not passing_on:
            return str(path.relative_to(ROOT))
        frame = frame.f_back
    return "?"


@pytest.fixture
def writers(monkeypatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    def watch(owner, name, model_of):
        original = getattr(owner, name)

        def wrapper(self, *args, **kwargs):
            model = model_of(self, args, kwargs)
            if model is not None and issubclass(model, WATCHED):
                seen.append((model.__name__, _asking_module()))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    watch(Model, "save", lambda obj, a, k: type(obj))
    watch(QuerySet, "update", lambda qs, a, k: qs.model)
    watch(QuerySet, "bulk_create", lambda qs, a, k: qs.model)
    watch(QuerySet, "create", lambda qs, a, k: qs.model)
    original_write_rows, original_write_many = db_writes.write_rows, db_writes.write_many

    def write_rows(*, update=None, insert=(), updates=(), statements=()):
        for obj in [*(update[:1] if update else ()), *(obj for obj, _ in updates), *insert]:
            seen.append((type(obj).__name__, _asking_module()))
        return original_write_rows(update=update, insert=insert, updates=updates, statements=statements)

    def write_many(*, inserts=(), updates=()):
        for obj in [*(obj for obj, _ in updates), *inserts]:
            seen.append((type(obj).__name__, _asking_module()))
        return original_write_many(inserts=inserts, updates=updates)

    monkeypatch.setattr(changes, "write_rows", write_rows)
    monkeypatch.setattr(changes, "write_many", write_many)
    return seen


def test_every_service_writes_through_the_unit_of_work(make_operator, writers, monkeypatch, claim_in_worker):
    monkeypatch.setattr("phones.outbox.queue_deliveries", lambda ids: len(ids))
    monkeypatch.setattr("phones.outbox.queue_delivery", lambda *a, **k: True)
    actor = Actor.of(make_operator("backoffice-operator"))
    phone = phone_create(actor=actor, context=CTX, account_id=9, number="91234-5678", type="MOBILE", area_code=11)
    links.provider_link_set(
        actor=actor, context=CTX, account_id=9, phone_id=phone.pk, provider="plivo", settings={"alias": "a"}
    )
    phone_update(actor=actor, context=CTX, account_id=9, phone_id=phone.pk, data={"extension": "7"})
    links.phone_resync(actor=actor, context=CTX, account_id=9, phone_id=phone.pk)
    job = SyncJob.objects.filter(status="pending").latest("id")
    claimed = claims.claim_jobs(job.pk)
    recording.record([(claimed[0], None, PermanentProviderError("refused", status=400))])
    # A batch: its rows go through write_many.
    other = phone_create(actor=actor, context=CTX, account_id=9, number="91234-0000", type="MOBILE", area_code=11)
    links.provider_link_set(
        actor=actor, context=CTX, account_id=9, phone_id=other.pk, provider="plivo", settings={"alias": "b"}
    )
    links.phone_resync(actor=actor, context=CTX, account_id=9, phone_id=phone.pk)
    pending = list(SyncJob.objects.filter(status="pending").order_by("id").values_list("pk", flat=True))
    batch = claims.claim_jobs(pending[0], limit=len(pending), among=pending)
    assert len(batch) == 2
    recording.record([(claim, None, PermanentProviderError("refused", status=400)) for claim in batch])
    callbacks.sinch_callback_received(number=phone.e164, event_type="x", status="y")
    links.provider_link_remove(actor=actor, context=CTX, account_id=9, phone_id=phone.pk)
    phone_inactivate(actor=actor, context=CTX, account_id=9, phone_id=phone.pk)

    assert {model for model, _ in writers} >= {"Phone", "ProviderLink", "SyncJob", "AuditEntry"}
    elsewhere = sorted({(model, module) for model, module in writers if module != "phones/changes.py"})
    assert not elsewhere, f"written outside the unit of work: {elsewhere}"


def test_access_events_write_through_the_access_writer_only(make_operator, writers, client, settings):
    from backoffice.services import operator_change, operator_create
    from backoffice.tests.factories import PASSWORD

    settings.MFA_REQUIRED_PERMISSIONS = []  # a sign-in with a password alone (MFA: test_mfa.py)

    master = make_operator("itibackoffice-master")
    jane = operator_create(actor=master, email="jane@bank.example", roles=["crm-operator"], password=PASSWORD)
    operator_change(actor=master, operator=jane, roles=["treasury-operator"], full_name="Jane", is_active=False)
    client.post("/admin/login/", {"username": master.email, "password": PASSWORD})
    client.post("/admin/login/", {"username": master.email, "password": "wrong"})

    assert {model for model, _ in writers} == {"AuditEntry", "AuditChainHead"}
    # Created; roles, deactivated, name changed; signed in; failed.
    assert AuditEntry.objects.filter(phone__isnull=True).count() == 6
    elsewhere = sorted({(model, module) for model, module in writers if module != "audit/access.py"})
    assert not elsewhere, f"access entries written outside their writer: {elsewhere}"
