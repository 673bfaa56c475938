"""Shared httpx machinery: one attempt per call, recorded and masked, errors typed."""

from __future__ import annotations

import base64
import email.utils
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from provider_sync.adapters.base import (
    MASK,
    RESPONSE_BODY_LIMIT,
    Attempt,
    CallLog,
    CallWithdrawn,
    PermanentProviderError,
    ProviderAdapter,
    ProviderError,
    RetryableProviderError,
)

_SECRET_KEY_RE = re.compile(r"secret|token|password|authorization|api[-_]?key", re.IGNORECASE)
_SECRET_HEADER_RE = re.compile(r"authorization|token|secret|api[-_]?key|cookie", re.IGNORECASE)
PERMANENT_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 405, 409, 422})
USER_AGENT = "phones-backoffice-sync/1.0"


def timeout_from_config(config: Mapping[str, Any]) -> httpx.Timeout:
    default = float(config.get("timeout", 10.0))

    def pick(key: str) -> float:
        value = config.get(key)
        return default if value is None else float(value)

    return httpx.Timeout(
        default,
        connect=pick("connect_timeout"),
        read=pick("read_timeout"),
        write=pick("write_timeout"),
        pool=pick("pool_timeout"),
    )


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP date); None when absent/invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def mask_body(value: Any) -> Any:
    """Copy of a JSON-like value with secret-looking keys masked."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and _SECRET_KEY_RE.search(k) else mask_body(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_body(v) for v in value]
    return value


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    masked: dict[str, str] = {}
    for name, value in headers.items():
        if _SECRET_HEADER_RE.search(name):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            masked[name] = f"{scheme} {MASK}".strip()
        else:
            masked[name] = value
    return masked


class HttpProviderAdapter(ProviderAdapter):
    """Base for the httpx adapters: a single client, Basic auth, recorded attempts."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        timeout: httpx.Timeout,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        # Strings that must never be stored in an Attempt.
        self._secrets: tuple[str, ...] = tuple(s for s in (password, basic) if s)
        self._client = httpx.Client(
            timeout=timeout,
            auth=httpx.BasicAuth(username, password),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    # -- helpers ------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _error_details(self, response: httpx.Response) -> tuple[str, tuple[str, ...]]:
        """Provider-specific (message, codes) for an error response."""
        return (response.text or response.reason_phrase, ())

    def _request(
        self,
        method: str,
        url: str,
        attempts: list[Attempt],
        *,
        json_body: Any | None = None,
    ) -> httpx.Response:
        """Send one request; record it in ``attempts``; raise a typed error unless 2xx.

        When ``attempts`` is a ``CallLog``, its call's check runs first (``CallWithdrawn``: nothing
        sent) and its headers go with the request."""
        call = attempts.call if isinstance(attempts, CallLog) else None
        if call is not None and call.check is not None:
            try:
                call.check()
            except CallWithdrawn as withdrawn:
                withdrawn.attempts = list(attempts)
                withdrawn.provider = self.provider
                raise
        headers = dict(call.headers) if call is not None else {}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        request = self._client.build_request(
            method,
            url,
            content=None if json_body is None else json.dumps(json_body).encode(),
            headers=headers or None,
        )
        # httpx adds Authorization at send time (auth flow); record it as it will be sent.
        recorded_headers = dict(request.headers)
        recorded_headers["authorization"] = "Basic ***"
        attempt = Attempt(
            provider=self.provider,
            method=method,
            url=self._scrub(str(request.url)),
            request_headers=mask_headers(recorded_headers),
            request_body=mask_body(json_body),
            started_at=datetime.now(UTC),
        )
        attempts.append(attempt)
        start = time.perf_counter()
        try:
            response = self._client.send(request)
            response.read()
        except httpx.TimeoutException as exc:
            attempt.duration_ms = (time.perf_counter() - start) * 1000
            attempt.error = self._scrub(f"timeout: {type(exc).__name__}: {exc}")
            raise RetryableProviderError(
                f"timeout talking to {self.provider}: {type(exc).__name__}",
                attempts=attempts,
                provider=self.provider,
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            attempt.duration_ms = (time.perf_counter() - start) * 1000
            attempt.error = self._scrub(f"{type(exc).__name__}: {exc}")
            raise PermanentProviderError(f"bad provider URL: {exc}", attempts=attempts, provider=self.provider) from exc
        except httpx.TransportError as exc:
            attempt.duration_ms = (time.perf_counter() - start) * 1000
            attempt.error = self._scrub(f"{type(exc).__name__}: {exc}")
            raise RetryableProviderError(
                f"connection error talking to {self.provider}: {type(exc).__name__}: {exc}",
                attempts=attempts,
                provider=self.provider,
            ) from exc
        attempt.duration_ms = (time.perf_counter() - start) * 1000
        attempt.status_code = response.status_code
        attempt.response_body = self._scrub(response.text[:RESPONSE_BODY_LIMIT])
        if response.is_success:
            return response
        message, codes = self._error_details(response)
        message = self._scrub(message)
        attempt.error = message
        status = response.status_code
        if status == 429:
            raise RetryableProviderError(
                message,
                status=status,
                codes=codes,
                attempts=attempts,
                provider=self.provider,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500 or status == 408:
            raise RetryableProviderError(
                message,
                status=status,
                codes=codes,
                attempts=attempts,
                provider=self.provider,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        raise PermanentProviderError(message, status=status, codes=codes, attempts=attempts, provider=self.provider)

    def _json(self, response: httpx.Response, attempts: list[Attempt]) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            attempts[-1].error = "response is not JSON"
            raise RetryableProviderError(
                f"{self.provider} answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
                attempts=attempts,
                provider=self.provider,
            ) from exc
        if not isinstance(data, dict):
            attempts[-1].error = "response is not a JSON object"
            raise RetryableProviderError(
                f"{self.provider} answered {response.status_code} with a non-object JSON body",
                status=response.status_code,
                attempts=attempts,
                provider=self.provider,
            )
        return data

    def _local_error(
        self, message: str, attempts: list[Attempt], codes: tuple[str, ...] = ("LOCAL_RULE",)
    ) -> ProviderError:
        return PermanentProviderError(message, codes=codes, attempts=attempts, provider=self.provider)
