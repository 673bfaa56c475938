"""Demo operators (one per role), phones and provider links for the local run (``dev.py run``).

Lives with the simulator: the demo links point at numbers the simulator holds."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.models import Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from backoffice.models import User
from backoffice.roles import ROLES
from backoffice.services import operator_upsert
from phones.errors import PhoneAlreadyExists
from phones.models import Phone, ProviderLink
from phones.services import phone_create
from provider_sync.links import provider_link_set

DEMO_DOMAIN = "demo.local"
DEMO_PHONES = [
    (1001, 501, "91234-5678", "MOBILE", 11, 55),
    (1001, 501, "3456-7890", "RESIDENTIAL", 11, 55),
    (1002, 502, "98765-4321", "MOBILE", 21, 55),
    (1002, None, "3003-1234", "COMMERCIAL", 21, 55),
    (1003, 503, "2025550143", "MOBILE", None, 1),
    (1004, 504, "7700900123", "MOBILE", None, 44),
]
# Demo phones linked to the provider simulator (numbers seeded there by ``seed_simulator``).
DEMO_LINKS = [
    (
        "+5511912345678",
        "sinch",
        {
            "display_name": "Demo 1001",
            "sms_service_plan_id": "demo-plan",
            "voice_type": "RTC",
            "voice_target_id": "demo-app",
        },
    ),
    ("+5521987654321", "sinch", {"display_name": "Demo 1002"}),
    ("+12025550143", "plivo", {"alias": "demo-1003", "app_id": "demo-app"}),
]


def demo_password(role: str) -> str:
    return f"demo-{role}"


class Command(BaseCommand):
    help = "Seed demo operators (one per role) and a few demo phones. Idempotent; local use only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-logins", action="store_true", help="do not print the logins")

    def handle(self, *args: Any, quiet_logins: bool = False, **_: Any) -> None:
        logins = []
        for role in ROLES:
            email = f"{role}@{DEMO_DOMAIN}"
            operator_upsert(
                email=email, roles=[role], password=demo_password(role), full_name=role, check_password=False
            )
            logins.append((email, demo_password(role), role))
        admin_email = f"admin@{DEMO_DOMAIN}"
        if not User.objects.filter(email=admin_email).exists():
            User.objects.create_superuser(admin_email, "demo-admin")
        logins.append((admin_email, "demo-admin", "superuser"))

        seeder = User.objects.get(email=f"backoffice-operator@{DEMO_DOMAIN}")
        context = AuditContext(origin=Origin.COMMAND)
        created = 0
        if not Phone.objects.exists():
            for account_id, customer_id, number, kind, area, country in DEMO_PHONES:
                try:
                    phone_create(
                        actor=Actor.of(seeder),
                        context=context,
                        account_id=account_id,
                        customer_id=customer_id,
                        number=number,
                        type=kind,
                        area_code=area,
                        country_code=country,
                    )
                    created += 1
                except PhoneAlreadyExists:
                    pass
        self.stdout.write(f"Demo phones created: {created}")
        linked = self._link_demo_phones(seeder, context)
        self.stdout.write(f"Demo phones linked to the provider simulator: {linked}")
        if not quiet_logins:
            self.stdout.write("Demo logins (email / password / role):")
            for email, password, role in logins:
                self.stdout.write(f"  {email:38} {password:30} {role}")

    def _link_demo_phones(self, seeder: User, context: AuditContext) -> int:
        if ProviderLink.objects.exists():
            return 0
        port = os.environ.get("PORT", "8000")
        linked = 0
        for e164, provider, values in DEMO_LINKS:
            phone = Phone.objects.filter(e164=e164, active=True).first()
            if phone is None:
                continue
            if provider == "sinch":
                # The simulator calls back the local web server when provisioning ends.
                values = {**values, "callback_url": f"http://127.0.0.1:{port}/providers/sinch/callback"}
            provider_link_set(
                actor=Actor.of(seeder),
                context=context,
                account_id=phone.account_id,
                phone_id=phone.pk,
                provider=provider,
                settings=values,
            )
            linked += 1
        return linked
