"""Signed callback delivery: a worker thread POSTs queued events and records each delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from typing import Any

import httpx

from simulator.state import MAX_LOG, Records, SimConfig, now_iso

# Sinch signs its callbacks this way; copied here on purpose, the simulator shares no code with our adapters.
SIGNATURE_HEADER = "X-Sinch-Signature"


def sign_callback(raw_body: bytes, secret: str) -> str:
    """HMAC-SHA1 hex of the raw body with the callback secret."""
    return hmac.new(secret.encode(), raw_body, hashlib.sha1).hexdigest()


class CallbackSender:
    """Queue of (url, event) to POST; ``run`` delivers them until ``close`` (from a worker thread)."""

    def __init__(self, lock: threading.RLock, config: SimConfig) -> None:
        self._config = config
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.deliveries = Records(lock, limit=MAX_LOG)

    def send(self, url: str, event: dict[str, Any]) -> None:
        self._queue.put((url, event))

    def close(self) -> None:
        """Let ``run`` return once the events queued so far are delivered."""
        self._queue.put(None)

    def run(self) -> None:
        with httpx.Client(timeout=self._config.callback_timeout) as client:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                url, event = item
                self._deliver(client, url, event)

    def _deliver(self, client: httpx.Client, url: str, event: dict[str, Any]) -> None:
        # Sent now, so stamped now: receivers refuse a signed event whose timestamp is stale.
        event = {**event, "timestamp": now_iso()}
        body = json.dumps(event).encode()
        signature = sign_callback(body, self._config.callback_secret)
        record: dict[str, Any] = {
            "url": url,
            "event": event,
            "body": body.decode(),
            "signature": signature,
            "status": None,
            "error": None,
            "delivered_at": now_iso(),
        }
        try:
            response = client.post(
                url, content=body, headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature}
            )
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        self.deliveries.add(record)
