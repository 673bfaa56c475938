from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from backoffice.models import ApiKey, User
from backoffice.roles import ROLES
from backoffice.service_accounts import (
    KEYWORD,
    ServiceAccountRefused,
    api_key_issue,
    api_key_revoke,
    describe,
    service_account_create,
)
from backoffice.services import UnknownRole


class Command(BaseCommand):
    help = "Service accounts of internal tools: create one, issue and revoke its API keys, list keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a service account (or set its roles)")
        create.add_argument("email")
        create.add_argument("--role", action="append", default=[], dest="roles", help=f"one of: {', '.join(ROLES)}")
        create.add_argument("--name", default="", dest="full_name")
        issue = sub.add_parser("issue-key", help="issue a key (printed once)")
        issue.add_argument("email")
        issue.add_argument("--key-name", required=True, help="what the key is for, e.g. crm-sync production")
        issue.add_argument("--days", type=int, default=None, help="expires after this many days")
        revoke = sub.add_parser("revoke-key", help="revoke a key by its prefix")
        revoke.add_argument("prefix")
        listing = sub.add_parser("list", help="list keys (never their secrets)")
        listing.add_argument("email", nargs="?")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"_{action.replace('-', '_')}")(**options)
        except (ServiceAccountRefused, UnknownRole) as error:
            raise CommandError(str(error)) from error

    def _create(self, *, email: str, roles: list[str], full_name: str, **_: Any) -> None:
        if not roles:
            raise CommandError("Give at least one --role: a service account without a role can do nothing.")
        user = service_account_create(email=email, roles=roles, full_name=full_name)
        self.stdout.write(self.style.SUCCESS(f"Service account {user.email} with roles {', '.join(sorted(roles))}"))

    def _issue_key(self, *, email: str, key_name: str, days: int | None, **_: Any) -> None:
        operator = User.objects.filter(email=email.lower()).first()
        if operator is None:
            raise CommandError(f"No service account {email}.")
        expires = timezone.now() + timedelta(days=days) if days else None
        key, secret = api_key_issue(operator=operator, name=key_name, issued_by="manage.py", expires_at=expires)
        self.stdout.write(f"Key {key.prefix} for {operator.email} ({key.name}). Shown once, store it now:")
        self.stdout.write(f"Authorization: {KEYWORD} {secret}")

    def _revoke_key(self, *, prefix: str, **_: Any) -> None:
        try:
            key = api_key_revoke(prefix=prefix, revoked_by="manage.py")
        except ApiKey.DoesNotExist:
            raise CommandError(f"No key with prefix {prefix}.") from None
        self.stdout.write(self.style.SUCCESS(f"Key {key.prefix} of {key.operator.email} revoked at {key.revoked_at}"))

    def _list(self, *, email: str | None, **_: Any) -> None:
        keys = ApiKey.objects.select_related("operator")
        if email:
            keys = keys.filter(operator__email=email.lower())
        for key in keys:
            row = describe(key)
            state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "active"
            self.stdout.write(f"{row['prefix']}  {row['operator']}  {row['name']}  {state}")
