"""The threaded HTTP server on loopback (request parsing, response writing) and ``ProviderSimulator``,
the facade the tests, the commands and the control API drive. See README.md for the APIs served."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar, cast

from simulator.callbacks import CallbackSender
from simulator.control import handle_control
from simulator.faults import Faults, fault_response
from simulator.plivo import PlivoNumbers
from simulator.routes import Request, route
from simulator.sinch import SinchNumbers
from simulator.state import (
    DEFAULT_CALLBACK_SECRET,
    DEFAULT_PLIVO_AUTH_ID,
    DEFAULT_PLIVO_AUTH_TOKEN,
    DEFAULT_PLIVO_SUBACCOUNTS,
    DEFAULT_SINCH_KEY_ID,
    DEFAULT_SINCH_KEY_SECRET,
    DEFAULT_SINCH_PROJECT_ID,
    MAX_LOG,
    PLIVO,
    SINCH,
    Records,
    SimConfig,
    SimulatorError,
    digits,
    is_loopback,
    now_iso,
    plain_digits,
)

T = TypeVar("T")


class _Setting(Generic[T]):
    """A ProviderSimulator attribute kept in its shared SimConfig, so every part sees a change."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, sim: ProviderSimulator | None, owner: type | None = None) -> T:
        return cast(T, self if sim is None else getattr(sim.config, self.name))

    def __set__(self, sim: ProviderSimulator, value: T) -> None:
        setattr(sim.config, self.name, value)


class ProviderSimulator:
    """State, behaviour and lifecycle of the simulator. Build it with ``make_simulator``."""

    sinch_project_id = _Setting[str]()
    sinch_key_id = _Setting[str]()
    sinch_key_secret = _Setting[str]()
    plivo_auth_id = _Setting[str]()
    plivo_auth_token = _Setting[str]()
    plivo_subaccounts = _Setting[dict[str, str]]()
    provisioning_seconds = _Setting[float]()
    callback_secret = _Setting[str]()
    callback_timeout = _Setting[float]()

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:
        """``settings``: the keyword arguments of ``make_simulator`` (the fields of SimConfig)."""
        if not is_loopback(host):
            raise ValueError(f"the provider simulator only listens on loopback, not {host!r}")
        subaccounts = settings.pop("plivo_subaccounts", None)
        self.config = SimConfig(
            **settings, plivo_subaccounts=dict(DEFAULT_PLIVO_SUBACCOUNTS if subaccounts is None else subaccounts)
        )
        self.config.provisioning_seconds = float(self.config.provisioning_seconds)
        self._lock = threading.RLock()  # one lock for all the state below
        self._stop = threading.Event()
        self._requests = Records(self._lock, limit=MAX_LOG, numbered=True)
        self._sink = Records(self._lock)
        self._faults = Faults(self._lock)
        self._callbacks = CallbackSender(self._lock, self.config)
        self._sinch = SinchNumbers(self._lock, self.config, self._faults, self._callbacks)
        self._plivo = PlivoNumbers(self._lock, self.config)
        self._threads: list[threading.Thread] = []
        self._serving = False

        self._server = _Server((host, port), _Handler)
        self._server.sim = self

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _start_workers(self) -> None:
        for target, name in ((self._tick_loop, "sim-ticker"), (self._callbacks.run, "sim-callbacks")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _tick_loop(self) -> None:
        """The provisioning clock: scheduled jobs finish (and call back) even when nobody asks."""
        while not self._stop.wait(0.02):
            self._sinch.advance()

    def start(self) -> ProviderSimulator:
        """Serve in background threads; returns self."""
        self._start_workers()
        self._serving = True
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-server", daemon=True
        )
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` or KeyboardInterrupt."""
        self._start_workers()
        self._serving = True
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False
            self.stop()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._serving:
            self._serving = False
            self._server.shutdown()
        self._server.server_close()
        self._callbacks.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def __enter__(self) -> ProviderSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- python-side control (the /_sim/ endpoints call these) -------------------------------------

    def reset(self) -> None:
        with self._lock:
            for part in (
                self._sinch,
                self._plivo,
                self._faults,
                self._requests,
                self._callbacks.deliveries,
                self._sink,
            ):
                part.clear()

    def seed(self, provider: str, number: str, **state: Any) -> dict[str, Any]:
        """Create or replace a number. Sinch keys are camelCase as in the API (displayName,
        regionCode, type, capability, callbackUrl, smsConfiguration, voiceConfiguration,
        projectId); Plivo keys snake_case (alias, app_id, sub_account, compliance_application_id,
        compliance_status, number_type, region)."""
        if provider == SINCH:
            return self._sinch.seed(number, state)
        if provider == PLIVO:
            return self._plivo.seed(number, state)
        raise SimulatorError(f"unknown provider {provider!r}")

    def number_state(self, provider: str, number: str) -> dict[str, Any] | None:
        """The number as the provider's GET would answer it (None when unknown)."""
        with self._lock:
            self._sinch.advance()
            if provider == SINCH:
                return self._sinch.state_of(number)
            if provider == PLIVO:
                return self._plivo.state_of(number)
        raise SimulatorError(f"unknown provider {provider!r}")

    def all_numbers(self) -> list[dict[str, Any]]:
        with self._lock:
            self._sinch.advance()
            return self._sinch.rows() + self._plivo.rows()

    def recorded_requests(self, provider: str | None = None, number: str | None = None) -> list[dict[str, Any]]:
        want = plain_digits(number) if number else None
        return self._requests.snapshot(
            lambda r: (
                (provider is None or r["provider"] == provider)
                and (want is None or digits(r.get("number") or "") == want)
            )
        )

    def clear_requests(self) -> None:
        self._requests.clear()

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """Add a fault (keys as in README.md, "Faults"); returns it with its id."""
        return self._faults.add_fault(**spec)

    def faults(self) -> list[dict[str, Any]]:
        return self._faults.snapshot()

    def clear_faults(self) -> None:
        self._faults.clear()

    def callbacks(self) -> list[dict[str, Any]]:
        return self._callbacks.deliveries.snapshot()

    def sink(self) -> list[dict[str, Any]]:
        return self._sink.snapshot()

    def configure(self, **options: Any) -> dict[str, Any]:
        with self._lock:
            if options.get("provisioning_seconds") is not None:
                self.provisioning_seconds = float(options["provisioning_seconds"])
            return {"provisioning_seconds": self.provisioning_seconds}

    # -- HTTP handling (called from the handler threads) -------------------------------------------

    def handle_sinch(
        self, method: str, project: str, number: str, auth: str | None, body: Any
    ) -> tuple[int, dict[str, Any]]:
        return self._sinch.handle(method, project, number, auth, body)

    def handle_plivo(
        self, method: str, auth_id: str, number: str, auth: str | None, body: Any
    ) -> tuple[int, dict[str, Any]]:
        return self._plivo.handle(method, auth_id, number, auth, body)

    def fault_response(self, provider: str, fault: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        return fault_response(provider, fault)

    def handle_control(self, method: str, path: str, query: str, body: Any) -> tuple[int, Any]:
        return handle_control(self, method, path, query, body)

    def record_sink(self, headers: Mapping[str, str], raw: bytes) -> None:
        self._sink.add({"headers": dict(headers), "body": raw.decode("utf-8", "replace"), "at": now_iso()})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of new keep-alive connections (workers
    # pushing batches concurrently) overflowed it and the kernel reset them. Providers' front
    # ends accept far more.
    request_queue_size = 1024
    sim: ProviderSimulator


class _Handler(BaseHTTPRequestHandler):
    # Small JSON answers on keep-alive connections: without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every call on loopback.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        body_ok = True
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body, body_ok = raw.decode("utf-8", "replace"), False
        status, payload, headers = route(
            self.server.sim, Request(method, path, query, self.headers, raw, body, body_ok)
        )
        if status is None:  # hang: the fault held the connection, now drop it without answering
            self.close_connection = True
            return
        self._send(status, payload, headers)

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


def make_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sinch_project_id: str = DEFAULT_SINCH_PROJECT_ID,
    sinch_key_id: str = DEFAULT_SINCH_KEY_ID,
    sinch_key_secret: str = DEFAULT_SINCH_KEY_SECRET,
    plivo_auth_id: str = DEFAULT_PLIVO_AUTH_ID,
    plivo_auth_token: str = DEFAULT_PLIVO_AUTH_TOKEN,
    plivo_subaccounts: Mapping[str, str] | None = None,
    provisioning_seconds: float = 1.0,
    callback_secret: str = DEFAULT_CALLBACK_SECRET,
    callback_timeout: float = 5.0,
) -> ProviderSimulator:
    """Build (not start) a simulator bound to ``host:port`` (port 0 picks a free port).

    ``plivo_subaccounts`` maps subaccount auth ids (SA...) to tokens that may also call the
    Plivo API; defaults to one ``SASIMULATOR000000001`` / ``sim-plivo-sub-token``.
    """
    return ProviderSimulator(
        host,
        port,
        sinch_project_id=sinch_project_id,
        sinch_key_id=sinch_key_id,
        sinch_key_secret=sinch_key_secret,
        plivo_auth_id=plivo_auth_id,
        plivo_auth_token=plivo_auth_token,
        plivo_subaccounts=plivo_subaccounts,
        provisioning_seconds=provisioning_seconds,
        callback_secret=callback_secret,
        callback_timeout=callback_timeout,
    )


__all__ = ["ProviderSimulator", "SimulatorError", "make_simulator"]
