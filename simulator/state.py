"""Shared pieces: provider names, the settings, number and auth helpers, the numbers store and record lists."""

from __future__ import annotations

import abc
import base64
import hmac
import ipaddress
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import unquote, urlsplit

SINCH: Final = "sinch"
PLIVO: Final = "plivo"

DEFAULT_SINCH_PROJECT_ID = "sim-project"
DEFAULT_SINCH_KEY_ID = "sim-key-id"
DEFAULT_SINCH_KEY_SECRET = "sim-key-secret"
DEFAULT_CALLBACK_SECRET = "sim-callback-secret"
DEFAULT_PLIVO_AUTH_ID = "MASIMULATOR000000001"
DEFAULT_PLIVO_AUTH_TOKEN = "sim-plivo-token"
DEFAULT_PLIVO_SUBACCOUNTS: Mapping[str, str] = {"SASIMULATOR000000001": "sim-plivo-sub-token"}

MAX_LOG = 5000  # recorded requests / callbacks kept
ANY = "*"  # a route for every method

H = TypeVar("H")


class SimulatorError(Exception):
    """A bad control API request (answered 400)."""


@dataclass
class SimConfig:
    """Credentials and timings. One instance is shared by every part (``/_sim/config`` changes it live)."""

    sinch_project_id: str = DEFAULT_SINCH_PROJECT_ID
    sinch_key_id: str = DEFAULT_SINCH_KEY_ID
    sinch_key_secret: str = DEFAULT_SINCH_KEY_SECRET
    plivo_auth_id: str = DEFAULT_PLIVO_AUTH_ID
    plivo_auth_token: str = DEFAULT_PLIVO_AUTH_TOKEN
    plivo_subaccounts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PLIVO_SUBACCOUNTS))
    provisioning_seconds: float = 1.0
    callback_secret: str = DEFAULT_CALLBACK_SECRET
    callback_timeout: float = 5.0


def now_iso(ts: float | None = None, *, timespec: str = "milliseconds") -> str:
    when = datetime.fromtimestamp(ts, UTC) if ts is not None else datetime.now(UTC)
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def e164(number: str) -> str:
    """``+`` and the digits of a (possibly url-encoded) number: the Sinch key."""
    return "+" + digits(unquote(number))


def plain_digits(number: str) -> str:
    """The digits of a (possibly url-encoded) number: the Plivo key."""
    return digits(unquote(number))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_basic(header: str | None, accounts: Mapping[str, str]) -> str | None:
    """The username an ``Authorization: Basic`` header authenticates against ``accounts``, or None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    expected = accounts.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        return None
    return user


class Records:
    """A list of dicts guarded by the simulator's lock: copies out, optionally numbered and bounded."""

    def __init__(self, lock: threading.RLock, *, limit: int | None = None, numbered: bool = False) -> None:
        self._lock = lock
        self._limit = limit
        self._numbered = numbered
        self._seq = 0  # not reset by clear(): ids stay unique for the simulator's life
        self._items: list[dict[str, Any]] = []

    def add(self, item: dict[str, Any]) -> dict[str, Any]:
        """Append ``item`` (given an ``id`` when numbered) and return it, not a copy."""
        with self._lock:
            if self._numbered:
                self._seq += 1
                item["id"] = self._seq
            self._items.append(item)
            if self._limit is not None:
                del self._items[: -self._limit]
            return item

    def snapshot(self, keep: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._items if keep is None or keep(item)]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Numbers(abc.ABC):
    """A provider's numbers (key -> internal state entry), guarded by the simulator's lock."""

    provider: ClassVar[str]

    def __init__(self, lock: threading.RLock, config: SimConfig) -> None:
        self._lock = lock
        self._config = config
        self._numbers: dict[str, dict[str, Any]] = {}

    @staticmethod
    @abc.abstractmethod
    def _key(number: str) -> str:
        """The store's key for a number as given (E.164 for Sinch, digits for Plivo)."""

    @abc.abstractmethod
    def _view(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The number as the provider's GET answers it."""

    def clear(self) -> None:
        with self._lock:
            self._numbers.clear()

    def _store(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Create or replace the number; returns its control API row."""
        with self._lock:
            self._numbers[key] = entry
            return self._row(key, entry)

    def _row(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        return {"provider": self.provider, "number": key, "state": self._view(entry)}

    def state_of(self, number: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._numbers.get(self._key(number))
            return None if entry is None else self._view(entry)

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._row(k, v) for k, v in self._numbers.items()]


def find_route(
    routes: Sequence[tuple[str, re.Pattern[str], H]], method: str, path: str
) -> tuple[H, re.Match[str]] | None:
    """The first (handler, match) whose method (or ANY) and regex (matching the whole path) fit."""
    for route_method, pattern, handler in routes:
        match = pattern.fullmatch(path)
        if match is not None and route_method in (ANY, method):
            return handler, match
    return None
