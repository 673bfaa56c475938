from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.checkpoints import Checkpoint
from audit.integrity import IntegrityProblem, audit_verify


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], list[IntegrityProblem]]:
    """Every checkpoint line of ``path`` (blank lines skipped); a line that is not one is a
    finding of its own: whoever altered it meant something."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read checkpoints from {path}: {error}") from error
    checkpoints: list[Checkpoint] = []
    unreadable: list[IntegrityProblem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            checkpoints.append(Checkpoint.from_json(line))
        except ValueError as error:
            unreadable.append(IntegrityProblem(None, None, f"checkpoint at {path}:{number} is unreadable: {error}"))
    return checkpoints, unreadable


def describe(problem: IntegrityProblem) -> str:
    where = []
    if problem.phone_id is not None:
        where.append(f"phone {problem.phone_id}")
    if problem.entry_id is not None:
        where.append(f"entry {problem.entry_id}")
    return f"{' '.join(where) or 'trail'}: {problem.problem}"


class Command(BaseCommand):
    help = (
        "Verify the audit trail: each phone's HMAC chain, that every phone has one, and (with --checkpoint) "
        "that it still holds everything the signed checkpoints vouched for; exits non-zero when tampering is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phone", type=int, action="append", dest="phones", help="only these phone ids")
        parser.add_argument(
            "--checkpoint",
            type=Path,
            action="append",
            dest="checkpoint_files",
            metavar="FILE",
            help="a file of checkpoints (JSON lines from audit_checkpoint); repeatable",
        )

    def handle(self, *args: Any, phones: list[int] | None, checkpoint_files: list[Path] | None, **_: Any) -> None:
        checkpoints: list[Checkpoint] = []
        problems: list[IntegrityProblem] = []
        for path in checkpoint_files or []:
            found, unreadable = read_checkpoints(path)
            checkpoints += found
            problems += unreadable
        problems += audit_verify(phone_ids=phones, checkpoints=checkpoints)
        for problem in problems:
            self.stderr.write(describe(problem))
        if problems:
            raise CommandError(f"{len(problems)} integrity problem(s) in the audit trail")
        vouched = f", {len(checkpoints)} checkpoint(s) hold" if checkpoints else ""
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact{vouched}."))
