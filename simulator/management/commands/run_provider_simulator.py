"""Run the Sinch/Plivo provider simulator on loopback (see simulator/README.md)."""

from __future__ import annotations

import gc
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.server import make_simulator
from simulator.state import (
    DEFAULT_CALLBACK_SECRET,
    DEFAULT_PLIVO_AUTH_ID,
    DEFAULT_PLIVO_AUTH_TOKEN,
    DEFAULT_SINCH_KEY_ID,
    DEFAULT_SINCH_KEY_SECRET,
    DEFAULT_SINCH_PROJECT_ID,
    is_loopback,
)


class Command(BaseCommand):
    help = "Serve the Sinch and Plivo provider simulator (loopback only) until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
        parser.add_argument(
            "--provisioning-seconds",
            type=float,
            default=1.0,
            help="how long Sinch scheduled provisioning takes (default 1.0)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        if not is_loopback(host):
            raise CommandError(f"refusing to listen on non-loopback host {host!r}")
        if options["provisioning_seconds"] < 0:
            raise CommandError("--provisioning-seconds must be >= 0")

        def setting(name: str, default: str) -> str:
            return str(getattr(settings, name, None) or default)

        try:
            simulator = make_simulator(
                host,
                options["port"],
                sinch_project_id=setting("SINCH_PROJECT_ID", DEFAULT_SINCH_PROJECT_ID),
                sinch_key_id=setting("SINCH_KEY_ID", DEFAULT_SINCH_KEY_ID),
                sinch_key_secret=setting("SINCH_KEY_SECRET", DEFAULT_SINCH_KEY_SECRET),
                callback_secret=setting("SINCH_CALLBACK_SECRET", DEFAULT_CALLBACK_SECRET),
                plivo_auth_id=setting("PLIVO_AUTH_ID", DEFAULT_PLIVO_AUTH_ID),
                plivo_auth_token=setting("PLIVO_AUTH_TOKEN", DEFAULT_PLIVO_AUTH_TOKEN),
                provisioning_seconds=options["provisioning_seconds"],
            )
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot start the provider simulator: {exc}") from exc

        self.stdout.write(
            self.style.SUCCESS(f"Provider simulator on {simulator.base_url} (Sinch + Plivo, control API /_sim/)")
        )
        self.stdout.write("Ctrl-C to stop.")
        _freeze_startup_objects()
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopping provider simulator.")
        finally:
            simulator.stop()


def _freeze_startup_objects() -> None:
    """Move what start-up made (Django, the apps, the simulator's tables) out of the garbage
    collector's sight, as the Celery workers do (``backoffice.celery``): every full collection
    walked all of it while holding the interpreter, so every connection's request waited. Seen in
    the sync bench: a full collection of 77 ms in the simulator, and the provider calls of both
    workers answered 50-66 ms late at that moment."""
    gc.collect()
    gc.freeze()
