"""Put the linked numbers into the (in-memory) provider simulator, then re-sync them.

The simulator starts empty every time; the local run calls this before starting the worker so
the demo phones' links have numbers to sync with. Loopback only: it never talks to a real
provider.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.models import Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from backoffice.models import User
from phones.models import Provider, ProviderLink
from provider_sync import links as link_services
from simulator.state import is_loopback

DEFAULT_OPERATOR = "backoffice-operator@demo.local"


def _control_url(provider: str) -> str:
    base = settings.SINCH_NUMBERS_BASE_URL if provider == Provider.SINCH else settings.PLIVO_BASE_URL
    host = urlsplit(base).hostname or ""
    if not is_loopback(host):
        raise CommandError(f"{provider} points at {base}: the simulator is only ever on loopback")
    return base.rstrip("/") + "/_sim"


class Command(BaseCommand):
    help = "Seed the provider simulator with every linked number and queue their re-sync (local run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the simulator")
        parser.add_argument("--operator", default=DEFAULT_OPERATOR, help="operator the re-syncs are queued as")

    def handle(self, *args: Any, wait: float, operator: str, **_: Any) -> None:
        links = list(ProviderLink.objects.filter(linked=True).select_related("phone"))
        if not links:
            self.stdout.write("No linked phones: nothing to seed.")
            return
        urls = {provider: _control_url(provider) for provider in {link.provider for link in links}}
        with httpx.Client(timeout=5) as client:
            for url in set(urls.values()):
                self._wait_for(client, url, wait)
            seeded = []
            for link in links:
                url = urls[link.provider]
                number = link.number_e164
                known = client.get(f"{url}/numbers/{link.provider}/{number}")
                if known.status_code == 200:
                    continue
                state: dict[str, Any] = {"provider": link.provider, "number": number}
                if link.provider == Provider.SINCH:
                    state["regionCode"] = "US" if number.startswith("+1") else "BR"
                client.post(f"{url}/numbers", json=state).raise_for_status()
                seeded.append(link)
        user = User.objects.filter(email=operator).first()
        if user is None:
            self.stdout.write(f"Seeded {len(seeded)} number(s); no operator {operator} to queue re-syncs as.")
            return
        actor = Actor.of(user)
        context = AuditContext(origin=Origin.COMMAND)
        for link in seeded:
            link_services.phone_resync(
                actor=actor, context=context, account_id=link.phone.account_id, phone_id=link.phone_id
            )
        self.stdout.write(f"Seeded {len(seeded)} number(s) in the simulator and queued their re-sync.")

    def _wait_for(self, client: httpx.Client, url: str, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                client.get(f"{url}/numbers").raise_for_status()
                return
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(f"the provider simulator at {url} does not answer: {exc}") from exc
                time.sleep(0.3)
