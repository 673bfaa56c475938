"""Clients of the run: the simulator's control API and the API over HTTP."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from provider_sync.tests.chaos.config import SINCH

# --- The simulator, through its control API -----------------------------------------------------


class SimControl:
    """The simulator's ``/_sim/`` control API over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=30.0)

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, (
            f"simulator control {response.request.url}: {response.status_code} {response.text}"
        )
        return response.json()

    def seed(self, numbers: list[dict[str, Any]]) -> None:
        self._ok(self.client.post("/_sim/numbers", json={"numbers": numbers}))

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._ok(self.client.post("/_sim/faults", json=spec))["faults"][0]

    def clear_faults(self) -> None:
        self._ok(self.client.delete("/_sim/faults"))

    def faults(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/faults"))["faults"]

    def number(self, provider: str, e164: str) -> dict[str, Any] | None:
        key = e164 if provider == SINCH else e164.lstrip("+")
        response = self.client.get(f"/_sim/numbers/{provider}/{quote(key, safe='')}")
        if response.status_code == 404:
            return None
        return self._ok(response)["state"]

    def numbers(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/numbers"))["numbers"]

    def requests(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/requests"))["requests"]

    def callbacks(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/callbacks"))["callbacks"]

    def close(self) -> None:
        self.client.close()


# --- The API, over HTTP -------------------------------------------------------------------------


@dataclass
class ApiCall:
    index: int
    kind: str
    operator: str
    method: str
    path: str
    body: Any
    phase: str
    request_id: str
    started: float
    elapsed: float = 0.0
    status: int | None = None
    response: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        answer = f"{self.status} {json.dumps(self.response)[:300]}" if self.status is not None else self.error
        return (
            f"#{self.index} {self.kind} by {self.operator} in phase {self.phase}: {self.method} {self.path} "
            f"{json.dumps(self.body) if self.body is not None else ''} -> {answer}"
        )


class Api:
    """Calls the API as an operator (Bearer JWT) with a request id per call (``X-Request-ID``,
    which the jobs keep: each job is traced to the call and the operator that caused it)."""

    def __init__(self, base_url: str, seed: int, tokens: dict[str, str]) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30.0)
        self.seed = seed
        self.tokens = tokens
        self.calls: list[ApiCall] = []
        self.phase = "setup"

    def call(self, kind: str, operator: str, method: str, path: str, body: Any = None) -> ApiCall:
        call = ApiCall(
            index=len(self.calls),
            kind=kind,
            operator=operator,
            method=method,
            path=path,
            body=body,
            phase=self.phase,
            request_id=f"chaos-{self.seed}-{len(self.calls)}",
            started=time.time(),
        )
        self.calls.append(call)
        headers = {"Authorization": f"Bearer {self.tokens[operator]}", "X-Request-ID": call.request_id}
        try:
            response = self.client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            call.error = f"{type(exc).__name__}: {exc}"
        else:
            call.status = response.status_code
            try:
                call.response = response.json()
            except ValueError:
                call.response = response.text[:500]
        call.elapsed = time.time() - call.started
        return call

    def close(self) -> None:
        self.client.close()
