from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.integrity import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's per-phone HMAC chains; exits non-zero when tampering is found."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phone", type=int, action="append", dest="phones", help="only these phone ids")

    def handle(self, *args: Any, phones: list[int] | None, **_: Any) -> None:
        problems = list(audit_verify(phone_ids=phones))
        for problem in problems:
            self.stderr.write(f"phone {problem.phone_id} entry {problem.entry_id or '-'}: {problem.problem}")
        if problems:
            raise CommandError(f"{len(problems)} integrity problem(s) in the audit trail")
        self.stdout.write(self.style.SUCCESS("Audit trail intact."))
