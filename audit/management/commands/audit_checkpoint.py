from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.checkpoints import take_checkpoint


class Command(BaseCommand):
    help = (
        "Sign what the audit trail holds now (entry count, newest entry's id and hash) and print it as one "
        "JSON line, to be kept off the database; audit_verify --checkpoint FILE checks the trail against it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", type=Path, metavar="FILE", help="also append the line to FILE (created when missing)"
        )

    def handle(self, *args: Any, output: Path | None, **_: Any) -> None:
        line = take_checkpoint().to_json()
        if output is not None:
            try:
                with output.open("a", encoding="utf-8") as file:
                    file.write(line + "\n")
            except OSError as error:
                raise CommandError(f"cannot append the checkpoint to {output}: {error}") from error
        self.stdout.write(line)
