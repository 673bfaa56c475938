"""The route table: which handler answers each method and path, and the flow every provider API
request goes through (request log, faults, timing) before the Sinch or Plivo code answers it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from simulator.plivo import PLIVO_PATH_RE, plivo_error
from simulator.sinch import SINCH_PATH_RE, sinch_error
from simulator.state import ANY, PLIVO, SINCH, SimulatorError, e164, find_route, now_iso, plain_digits

if TYPE_CHECKING:
    from simulator.server import ProviderSimulator


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: HTTPMessage
    raw: bytes
    body: Any  # parsed JSON, else the text (body_ok False), None when empty
    body_ok: bool


Response = tuple[int | None, Any, dict[str, str]]  # (status: None = hang, drop unanswered; body; headers)
RouteHandler = Callable[["ProviderSimulator", Request, re.Match[str]], Response]
# A provider API's own answer, once logging and faults are done: (sim, request, path match, number).
ProviderAnswer = Callable[["ProviderSimulator", Request, re.Match[str], str], tuple[int, Any]]


def _record_sink(sim: ProviderSimulator, req: Request, match: re.Match[str]) -> Response:
    sim.record_sink(req.headers, req.raw)
    return 200, {"ok": True}, {}


def _control(sim: ProviderSimulator, req: Request, match: re.Match[str]) -> Response:
    try:
        status, payload = sim.handle_control(req.method, req.path, req.query, req.body if req.body_ok else None)
    except (SimulatorError, TypeError, ValueError) as exc:
        status, payload = 400, {"error": str(exc)}
    return status, payload, {}


def _provider(provider: str | None, answer: ProviderAnswer) -> RouteHandler:
    """A provider API route: logged in the request log, subject to the faults (unless provider is None), timed."""
    # Reads the facade's parts (request log, faults, stop event): this module is its HTTP side.

    def handle(sim: ProviderSimulator, req: Request, match: re.Match[str]) -> Response:
        raw_number = match.groupdict().get("number")
        number = None if raw_number is None else (e164(raw_number) if provider == SINCH else plain_digits(raw_number))
        record = sim._requests.add(
            {
                "provider": provider,
                "method": req.method,
                "path": req.path,
                "query": req.query,
                "number": number,
                "body": req.body,
                "headers": {k: v for k, v in req.headers.items() if k.lower() != "authorization"},
                "status": None,
                "fault": None,
                # Microseconds: the bench times commit -> request on paths of 1-3 ms, and the
                # chaos test orders requests of one number (milliseconds cut up to 1 ms off).
                "timestamp": now_iso(timespec="microseconds"),
            }
        )
        started = time.perf_counter()
        response = _faulted(sim, provider, number, req, record)
        if response is None:
            status, payload = answer(sim, req, match, number or "")
            response = status, payload, {}
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        if response[0] is not None:
            record["status"] = response[0]
        return response

    return handle


def _faulted(
    sim: ProviderSimulator, provider: str | None, number: str | None, req: Request, record: dict[str, Any]
) -> Response | None:
    """Apply the matching faults: added latency, then the fault's answer (or a hang); None to answer normally."""
    if provider is None:
        return None
    latency, fault = sim._faults.take_for_request(provider, number, req.method)
    if latency:
        record["fault"] = "latency"
        sim._stop.wait(latency / 1000)
    if fault is None:
        return None
    record["fault"] = fault["kind"]
    if fault["kind"] == "hang":
        sim._stop.wait(fault["hang_seconds"])
        return None, None, {}
    return sim.fault_response(provider, fault)


def _sinch_number(sim: ProviderSimulator, req: Request, match: re.Match[str], number: str) -> tuple[int, Any]:
    if not req.body_ok:
        return 400, sinch_error(400, "Invalid JSON payload received.")
    auth = req.headers.get("Authorization")
    return sim.handle_sinch(req.method, unquote(match["project"]), number, auth, req.body)


def _plivo_number(sim: ProviderSimulator, req: Request, match: re.Match[str], number: str) -> tuple[int, Any]:
    if not req.body_ok:
        return 400, plivo_error("invalid JSON body")
    auth = req.headers.get("Authorization")
    return sim.handle_plivo(req.method, unquote(match["auth_id"]), number, auth, req.body)


def _sinch_unknown(sim: ProviderSimulator, req: Request, match: re.Match[str], number: str) -> tuple[int, Any]:
    return 404, sinch_error(404, f"No such resource: {req.path}")


def _plivo_unknown(sim: ProviderSimulator, req: Request, match: re.Match[str], number: str) -> tuple[int, Any]:
    return 404, plivo_error("not found")  # also a Plivo URL without its trailing slash


def _no_endpoint(sim: ProviderSimulator, req: Request, match: re.Match[str], number: str) -> tuple[int, Any]:
    return 404, {"error": f"no such endpoint: {req.method} {req.path}"}


# First match wins; each regex must match the whole path (query string excluded).
ROUTES: list[tuple[str, re.Pattern[str], RouteHandler]] = [
    ("POST", re.compile(r"/_sim/sink"), _record_sink),  # not logged: it stands in for our callback URL
    (ANY, re.compile(r"/_sim(?:/.*)?"), _control),
    (ANY, SINCH_PATH_RE, _provider(SINCH, _sinch_number)),
    (ANY, re.compile(r"/v1/projects/.*"), _provider(SINCH, _sinch_unknown)),
    (ANY, PLIVO_PATH_RE, _provider(PLIVO, _plivo_number)),
    (ANY, re.compile(r"/v1/Account/.*"), _provider(PLIVO, _plivo_unknown)),
    (ANY, re.compile(r".*"), _provider(None, _no_endpoint)),  # logged, never faulted
]


def route(sim: ProviderSimulator, req: Request) -> Response:
    found = find_route(ROUTES, req.method, req.path)
    if found is None:  # the last route takes any path
        raise AssertionError(f"no route for {req.method} {req.path}")
    handler, match = found
    return handler(sim, req, match)
