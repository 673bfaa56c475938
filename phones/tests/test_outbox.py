"""The outbox's publishing: one message per batch of a transaction's jobs, on commit only."""

from __future__ import annotations

import pytest
from django.db import transaction

from phones import outbox

pytestmark = pytest.mark.django_db


def test_pending_on_commit_hooks_reads_djangos_private_list():
    """``connection.run_on_commit`` is private to Django (5.2: (savepoint ids, hook, robust)
    tuples). If an upgrade changes it, this fails: review ``phones.outbox.pending_on_commit_hooks``."""
    connection = transaction.get_connection()

    def hook() -> None:
        pass

    with transaction.atomic():
        transaction.on_commit(hook)
        entries = connection.run_on_commit
        assert isinstance(entries, list) and entries, "Django internals changed: review pending_on_commit_hooks"
        assert all(isinstance(entry, tuple) and len(entry) == 3 for entry in entries), (
            "Django internals changed: review phones.outbox.pending_on_commit_hooks"
        )
        assert outbox.pending_on_commit_hooks()[-1] is hook


def test_a_transactions_jobs_share_one_batch(monkeypatch, django_capture_on_commit_callbacks):
    published: list[list[int]] = []
    monkeypatch.setattr(outbox, "queue_deliveries", lambda ids: published.append(list(ids)) or len(ids))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.publish_on_commit(1)
        outbox.publish_on_commit(2)
        assert published == []  # nothing before the commit
    assert published == [[1, 2]]
