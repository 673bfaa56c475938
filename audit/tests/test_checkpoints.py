from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.checkpoints import Checkpoint
from audit.integrity import audit_verify, verify_checkpoint
from audit.models import AuditEntry
from audit.tests.tamper import remove_phone, tamper, wipe_trail
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def phones(make_operator):
    operator = make_operator("crm-operator")
    return [PhoneFactory(actor=operator, account_id=20 + i) for i in range(3)]


def take(path=None) -> str:
    out = StringIO()
    call_command("audit_checkpoint", *(["--output", str(path)] if path else []), stdout=out)
    return out.getvalue()


def verify(*paths) -> str:
    out = StringIO()
    call_command("audit_verify", *[arg for path in paths for arg in ("--checkpoint", str(path))], stdout=out)
    return out.getvalue()


def problems(path) -> list[str]:
    """What the checkpoints of ``path`` find, without their "checkpoint of <time>: " prefix."""
    checkpoints = [Checkpoint.from_json(line) for line in path.read_text().splitlines()]
    return [p.problem.split(": ", 1)[1] for c in checkpoints for p in verify_checkpoint(c)]


def test_a_checkpoint_is_one_signed_json_line_of_what_the_trail_holds(phones, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    printed = take(path)
    assert printed.endswith("\n") and printed.count("\n") == 1
    data = json.loads(printed)
    newest = AuditEntry.objects.order_by("-id").first()
    assert set(data) == {"count", "last_id", "last_hash", "created_at", "hmac"}
    assert (data["count"], data["last_id"], data["last_hash"]) == (3, newest.pk, newest.hash)
    assert Checkpoint.from_json(printed).signed
    assert path.read_text() == printed
    take(path)  # appended, never overwritten
    assert path.read_text().splitlines()[0] == printed.strip() and len(path.read_text().splitlines()) == 2


def test_a_trail_holding_all_its_checkpoints_vouched_for_verifies(phones, tmp_path, make_operator):
    earlier, later = tmp_path / "earlier.jsonl", tmp_path / "later.jsonl"
    take(earlier)
    PhoneFactory(actor=make_operator("crm-operator"), account_id=30)
    take(earlier)
    take(later)
    assert "Audit trail intact, 3 checkpoint(s) hold." in verify(earlier, later)


def test_a_checkpoint_of_an_empty_trail_vouches_for_nothing_yet(tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    assert json.loads(take(path))["count"] == 0
    assert "1 checkpoint(s) hold" in verify(path)


def test_a_whole_chain_removed_with_its_phone_falls_short_of_the_checkpoint(phones, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    take(path)
    remove_phone(phones[0].pk)
    assert list(audit_verify()) == []  # every chain left is whole, every phone left has one
    assert problems(path) == ["2 entries up to this one, it vouched for 3: entries were removed"]
    with pytest.raises(CommandError, match="1 integrity problem"):
        verify(path)


def test_the_newest_entries_removed_are_found_by_the_checkpoint(phones, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    take(path)
    remove_phone(phones[-1].pk)  # its creation entry was the newest
    assert problems(path) == [
        "the newest entry it vouched for is gone",
        "2 entries up to this one, it vouched for 3: entries were removed",
    ]


def test_a_wiped_trail_falls_short_of_the_checkpoint(phones, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    take(path)
    wipe_trail()
    assert problems(path) == [
        "the newest entry it vouched for is gone",
        "0 entries up to this one, it vouched for 3: entries were removed",
    ]


def test_a_rewritten_newest_entry_is_found_by_the_checkpoint(phones, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    newest = AuditEntry.objects.order_by("-id").first()
    take(path)
    tamper("UPDATE audit_auditentry SET hash = %s WHERE id = %s", ["0" * 64, newest.pk])
    assert problems(path) == ["the newest entry it vouched for has another hash"]


def test_an_altered_checkpoint_is_itself_a_finding(phones, tmp_path, settings):
    path = tmp_path / "checkpoints.jsonl"
    data = json.loads(take())
    # Lowered to what a trail missing one phone's chain holds: it would vouch for that trail.
    path.write_text(json.dumps({**data, "count": 2}) + "\n")
    assert problems(path) == ["its signature is wrong (forged or altered)"]
    with pytest.raises(CommandError, match="1 integrity problem"):
        verify(path)
    path.write_text(take())
    settings.AUDIT_HMAC_KEY = "another key"  # signed by someone without ours
    assert problems(path) == ["its signature is wrong (forged or altered)"]


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[]",
        '{"count": 1, "last_id": 1, "last_hash": "", "created_at": ""}',
        '{"count": true, "last_id": 1, "last_hash": "", "created_at": "", "hmac": ""}',
        '{"count": 1, "last_id": null, "last_hash": "", "created_at": "", "hmac": ""}',
        '{"count": 1, "last_id": 0, "last_hash": "", "created_at": "", "hmac": ""}',
        '{"count": 1, "last_id": 1, "last_hash": 5, "created_at": "", "hmac": ""}',
    ],
)
def test_an_unreadable_checkpoint_line_is_a_finding(tmp_path, line):
    path = tmp_path / "checkpoints.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(CommandError, match="1 integrity problem"):
        verify(path)


def test_a_checkpoint_file_that_cannot_be_read_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read checkpoints"):
        verify(tmp_path / "missing.jsonl")
