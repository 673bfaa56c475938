from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.roles import ROLES
from backoffice.services import UnknownRole, operator_upsert


class Command(BaseCommand):
    help = "Create or update an operator (by email) with exactly the given roles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            dest="roles",
            help=f"one of: {', '.join(ROLES)}",
        )
        parser.add_argument("--password", default=None)
        parser.add_argument("--name", default="", dest="full_name")

    def handle(
        self,
        *args: Any,
        email: str,
        roles: list[str],
        password: str | None,
        full_name: str,
        **_: Any,
    ) -> None:
        if not roles:
            raise CommandError("Give at least one --role: an operator without a role can see nothing.")
        try:
            user, created = operator_upsert(email=email, roles=roles, password=password, full_name=full_name)
        except UnknownRole as error:
            raise CommandError(str(error)) from error
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from error
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} operator {user.email} with roles {', '.join(sorted(roles))}"))
