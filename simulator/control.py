"""The ``/_sim/`` control API: a route table of JSON handlers over the ProviderSimulator's Python methods."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from simulator.state import ANY, SimulatorError, find_route

if TYPE_CHECKING:
    from simulator.server import ProviderSimulator


@dataclass(frozen=True)
class ControlCall:
    sim: ProviderSimulator
    method: str
    path: str  # as received, for messages
    query: str
    body: Any  # None when the body was not JSON
    match: re.Match[str]


ControlHandler = Callable[[ControlCall], tuple[int, Any]]


def _items(body: Any, key: str, what: str) -> list[dict[str, Any]]:
    """One object, or a list of them under ``key`` (``{"numbers": [...]}``)."""
    items = body.get(key) if isinstance(body, dict) and key in body else [body]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SimulatorError(f"body must be a {what} object or {{'{key}': [...]}}")
    return items


def _reset(call: ControlCall) -> tuple[int, Any]:
    call.sim.reset()
    return 200, {"ok": True}


def _seed_numbers(call: ControlCall) -> tuple[int, Any]:
    seeded = []
    for item in _items(call.body, "numbers", "number"):
        state = {k: v for k, v in item.items() if k not in ("provider", "number")}
        seeded.append(call.sim.seed(str(item.get("provider")), str(item.get("number") or ""), **state))
    return 201, {"numbers": seeded}


def _list_numbers(call: ControlCall) -> tuple[int, Any]:
    return 200, {"numbers": call.sim.all_numbers()}


def _number(call: ControlCall) -> tuple[int, Any]:
    provider, number = call.match["provider"], call.match["number"]
    state = call.sim.number_state(provider, number)
    if state is None:
        return 404, {"error": "unknown number"}
    return 200, {"provider": provider, "number": unquote(number), "state": state}


def _requests(call: ControlCall) -> tuple[int, Any]:
    params = {k: v[-1] for k, v in parse_qs(call.query).items()}
    return 200, {"requests": call.sim.recorded_requests(params.get("provider"), params.get("number"))}


def _clear_requests(call: ControlCall) -> tuple[int, Any]:
    call.sim.clear_requests()
    return 200, {"ok": True}


def _add_faults(call: ControlCall) -> tuple[int, Any]:
    return 201, {"faults": [call.sim.add_fault(**item) for item in _items(call.body, "faults", "fault")]}


def _faults(call: ControlCall) -> tuple[int, Any]:
    return 200, {"faults": call.sim.faults()}


def _clear_faults(call: ControlCall) -> tuple[int, Any]:
    call.sim.clear_faults()
    return 200, {"ok": True}


def _callbacks(call: ControlCall) -> tuple[int, Any]:
    return 200, {"callbacks": call.sim.callbacks()}


def _config(call: ControlCall) -> tuple[int, Any]:
    return 200, call.sim.configure(**(call.body if isinstance(call.body, dict) else {}))


def _sink(call: ControlCall) -> tuple[int, Any]:
    return 200, {"received": call.sim.sink()}


def _under(head: str) -> re.Pattern[str]:
    """``head`` and anything below it (``reset``, ``reset/x``): only the first segment decides."""
    return re.compile(rf"{head}(?:/.*)?")


# Matched in order against the path's segments after ``_sim``, empty ones dropped ("/_sim//faults/" ->
# "faults"); the first entry whose method (or ANY) and regex (whole path) match answers.
CONTROL_ROUTES: list[tuple[str, re.Pattern[str], ControlHandler]] = [
    ("POST", _under("reset"), _reset),
    ("POST", _under("numbers"), _seed_numbers),
    ("GET", re.compile(r"numbers"), _list_numbers),
    ("GET", re.compile(r"numbers/(?P<provider>[^/]+)/(?P<number>[^/]+)"), _number),
    ("GET", _under("requests"), _requests),
    ("DELETE", _under("requests"), _clear_requests),
    ("POST", _under("faults"), _add_faults),
    ("GET", _under("faults"), _faults),
    ("DELETE", _under("faults"), _clear_faults),
    ("GET", _under("callbacks"), _callbacks),
    ("GET", _under("config"), _config),
    ("POST", _under("config"), _config),
    (ANY, _under("sink"), _sink),
]


def handle_control(sim: ProviderSimulator, method: str, path: str, query: str, body: Any) -> tuple[int, Any]:
    """(status, JSON payload) for a ``/_sim`` request. Bad input raises SimulatorError, TypeError or ValueError."""
    segments = "/".join([p for p in path.split("/") if p][1:])  # drop "_sim"
    found = find_route(CONTROL_ROUTES, method, segments)
    if found is None:
        return 404, {"error": f"no control endpoint {method} {path}"}
    handler, match = found
    return handler(ControlCall(sim, method, path, query, body, match))
