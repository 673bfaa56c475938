from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.roles import RoleSetupError, set_up_roles


class Command(BaseCommand):
    help = (
        "PostgreSQL: make OWNER own the database's tables (and the audit triggers), and give APP (the role "
        "the application connects as) SELECT/INSERT on the audit table and the rest it needs, nothing that "
        "could disable the triggers. Idempotent; run as a superuser, again after every migrate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", required=True, help="role that owns the schema; migrations run as it")
        parser.add_argument("--app", required=True, help="role the web app, workers and beat connect as")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args: Any, owner: str, app: str, database: str, **_: Any) -> None:
        try:
            done = set_up_roles(owner=owner, app=app, using=database)
        except RoleSetupError as error:
            raise CommandError(str(error)) from error
        created = [name for name, new in ((done.owner, done.owner_created), (done.app, done.app_created)) if new]
        self.stdout.write(f"Created roles (LOGIN, no password): {', '.join(created)}." if created else "Roles exist.")
        self.stdout.write(
            self.style.SUCCESS(
                f"{done.owner} owns the database and its {done.tables} tables; {done.app} may SELECT and INSERT "
                "audit entries, not change, remove or truncate them, nor touch their triggers."
            )
        )
