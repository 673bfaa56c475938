"""Fixtures: one provider simulator per session (reset before each test), a callback receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from provider_sync.adapters.plivo import PlivoAdapter
from provider_sync.adapters.sinch import SinchAdapter
from simulator.server import ProviderSimulator, make_simulator

SINCH_PROJECT = "proj-test"
SINCH_KEY_ID = "key-id-test"
SINCH_KEY_SECRET = "s3cr3t-sinch-key-value"
CALLBACK_SECRET = "cb-secret-value"
PLIVO_MAIN_ID = "MATESTACCOUNT0000001"
PLIVO_MAIN_TOKEN = "plivo-main-token-value"
PLIVO_SUB_ID = "SATESTACCOUNT0000001"
PLIVO_SUB_TOKEN = "plivo-sub-token-value"
PROVISIONING_SECONDS = 0.3


class CallbackReceiver:
    """A tiny HTTP server that records what is POSTed to it (the Django callback view stand-in)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": raw})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sinch/callback"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def _simulator() -> Iterator[ProviderSimulator]:
    sim = make_simulator(
        "127.0.0.1",
        0,
        sinch_project_id=SINCH_PROJECT,
        sinch_key_id=SINCH_KEY_ID,
        sinch_key_secret=SINCH_KEY_SECRET,
        plivo_auth_id=PLIVO_MAIN_ID,
        plivo_auth_token=PLIVO_MAIN_TOKEN,
        plivo_subaccounts={PLIVO_SUB_ID: PLIVO_SUB_TOKEN},
        provisioning_seconds=PROVISIONING_SECONDS,
        callback_secret=CALLBACK_SECRET,
        callback_timeout=2.0,
    ).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(_simulator: ProviderSimulator) -> ProviderSimulator:
    _simulator.reset()
    _simulator.configure(provisioning_seconds=PROVISIONING_SECONDS)
    return _simulator


@pytest.fixture(scope="session")
def _receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def receiver(_receiver: CallbackReceiver) -> CallbackReceiver:
    with _receiver.lock:
        _receiver.received.clear()
    return _receiver


def sinch_config(sim: ProviderSimulator, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_url": sim.base_url,
        "project_id": SINCH_PROJECT,
        "key_id": SINCH_KEY_ID,
        "key_secret": SINCH_KEY_SECRET,
        "timeout": 2.0,
    }
    config.update(overrides)
    return config


def plivo_config(sim: ProviderSimulator, *, sub: bool = False, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_url": sim.base_url,
        "auth_id": PLIVO_SUB_ID if sub else PLIVO_MAIN_ID,
        "auth_token": PLIVO_SUB_TOKEN if sub else PLIVO_MAIN_TOKEN,
        "timeout": 2.0,
    }
    config.update(overrides)
    return config


@pytest.fixture
def sinch(sim: ProviderSimulator) -> Iterator[SinchAdapter]:
    adapter = SinchAdapter.from_config(sinch_config(sim))
    yield adapter
    adapter.close()


@pytest.fixture
def plivo(sim: ProviderSimulator) -> Iterator[PlivoAdapter]:
    adapter = PlivoAdapter.from_config(plivo_config(sim))
    yield adapter
    adapter.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 3.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
