"""Plivo Account Phone Number API adapter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from provider_sync.adapters._http import HttpProviderAdapter, timeout_from_config
from provider_sync.adapters.base import (
    E164_RE,
    PLIVO,
    PLIVO_COMPLIANCE_EDITABLE,
    Attempt,
    Call,
    CallLog,
    PlivoSettings,
    PushResult,
    RemoteNumber,
)

DEFAULT_BASE_URL = "https://api.plivo.com"


def plivo_error_details(response: httpx.Response) -> tuple[str, tuple[str, ...]]:
    """``{"api_id": "...", "error": "<text>"}`` (or ``error`` as an object) -> (message, ())."""
    try:
        data = response.json()
    except ValueError:
        return (response.text.strip() or response.reason_phrase, ())
    if not isinstance(data, dict) or "error" not in data:
        return (response.text.strip() or response.reason_phrase, ())
    error = data["error"]
    message = "; ".join(f"{k}: {v}" for k, v in error.items()) if isinstance(error, dict) else str(error)
    return (message or response.reason_phrase, ())


def _last_segment(value: Any) -> str | None:
    """Plivo gives resource URIs ('/v1/Account/MA.../Application/123/'): keep the id."""
    if not value:
        return None
    text = str(value)
    if "/" in text:
        parts = [p for p in text.split("/") if p]
        return parts[-1] if parts else None
    return text


def digits(number_e164: str) -> str:
    return re.sub(r"\D", "", number_e164)


def parse_plivo_number(data: Mapping[str, Any], number_e164: str) -> RemoteNumber:
    app_id = data.get("app_id") or _last_segment(data.get("application"))
    settings = PlivoSettings(
        alias=data.get("alias") or None,
        app_id=app_id or None,
        subaccount=_last_segment(data.get("sub_account")),
        compliance_application_id=data.get("compliance_application_id") or None,
    )
    status = data.get("compliance_status")
    return RemoteNumber(
        provider=PLIVO,
        number_e164=number_e164,
        settings=settings,
        raw=dict(data),
        compliance_status=str(status).lower() if status else None,
    )


class PlivoAdapter(HttpProviderAdapter):
    provider = PLIVO

    def __init__(
        self,
        *,
        auth_id: str,
        auth_token: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            username=auth_id,
            password=auth_token,
            timeout=timeout or httpx.Timeout(10.0),
            transport=transport,
        )
        self.auth_id = auth_id

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PlivoAdapter:
        return cls(
            auth_id=str(config["auth_id"]),
            auth_token=str(config["auth_token"]),
            base_url=str(config.get("base_url") or DEFAULT_BASE_URL),
            timeout=timeout_from_config(config),
            transport=config.get("transport"),
        )

    @property
    def is_main_account(self) -> bool:
        return self.auth_id.startswith("MA")

    def number_url(self, number_e164: str) -> str:
        return f"{self.base_url}/v1/Account/{quote(self.auth_id, safe='')}/Number/{digits(number_e164)}/"

    def _error_details(self, response: httpx.Response) -> tuple[str, tuple[str, ...]]:
        return plivo_error_details(response)

    def _check_number(self, number_e164: str, attempts: list[Attempt]) -> None:
        if not E164_RE.match(number_e164):
            raise self._local_error(f"{number_e164!r} is not an E.164 number", attempts, codes=("INVALID_NUMBER",))

    def _fetch(self, number_e164: str, attempts: list[Attempt]) -> RemoteNumber:
        response = self._request("GET", self.number_url(number_e164), attempts)
        return parse_plivo_number(self._json(response, attempts), number_e164)

    def fetch(self, number_e164: str, *, call: Call | None = None) -> RemoteNumber:
        attempts = CallLog(call)
        self._check_number(number_e164, attempts)
        return self._fetch(number_e164, attempts)

    def poll_provisioning(self, number_e164: str, desired: PlivoSettings, *, call: Call | None = None) -> PushResult:
        """Plivo has no scheduled provisioning: a read says the number is as it stands."""
        attempts = CallLog(call)
        self._check_number(number_e164, attempts)
        remote = self._fetch(number_e164, attempts)
        return PushResult(attempts=attempts, remote=remote, provisioning=False, changed=False)

    def plan_body(self, desired: PlivoSettings, remote: RemoteNumber, previous: PlivoSettings | None) -> dict[str, Any]:
        """The POST body (only fields that change); raises no errors (see ``push``)."""
        cur = remote.settings
        assert isinstance(cur, PlivoSettings)
        body: dict[str, Any] = {}
        if desired.alias:
            if desired.alias != (cur.alias or ""):
                body["alias"] = desired.alias
        elif previous is not None and previous.alias and cur.alias:
            body["alias"] = ""
        if desired.app_id:
            if desired.app_id != cur.app_id:
                body["app_id"] = desired.app_id
        elif cur.app_id:
            body["app_id"] = ""  # detach the application
        if desired.subaccount and desired.subaccount != (cur.subaccount or self._main_id()):
            body["subaccount"] = desired.subaccount
        if desired.compliance_application_id and desired.compliance_application_id != cur.compliance_application_id:
            body["compliance_application_id"] = desired.compliance_application_id
        return body

    def _main_id(self) -> str | None:
        return self.auth_id if self.is_main_account else None

    def push(
        self,
        number_e164: str,
        desired: PlivoSettings,
        previous: PlivoSettings | None = None,
        *,
        call: Call | None = None,
    ) -> PushResult:
        """GET the number, check local rules, POST the changed fields (202), GET again.

        Local rules (PermanentProviderError, no POST sent): a compliance application change
        needs compliance status pending/rejected; a subaccount move needs main-account (MA)
        credentials.
        """
        attempts = CallLog(call)
        if not isinstance(desired, PlivoSettings):
            raise TypeError("PlivoAdapter.push needs PlivoSettings")
        self._check_number(number_e164, attempts)
        problems = desired.validate()
        if problems:
            raise self._local_error(
                "invalid Plivo settings: " + "; ".join(f"{f}: {m}" for f, m in problems),
                attempts,
                codes=("INVALID_SETTINGS",),
            )
        remote = self._fetch(number_e164, attempts)
        body = self.plan_body(desired, remote, previous)
        if "subaccount" in body and not self.is_main_account:
            raise self._local_error(
                "only the main account (MA...) may move a number to a subaccount; "
                f"the configured credentials are {self.auth_id[:2]}...",
                attempts,
                codes=("SUBACCOUNT_MOVE_NEEDS_MAIN_ACCOUNT",),
            )
        if "compliance_application_id" in body and (remote.compliance_status not in PLIVO_COMPLIANCE_EDITABLE):
            raise self._local_error(
                "compliance application can only change while the number's compliance status "
                f"is pending or rejected (it is {remote.compliance_status or 'unknown'})",
                attempts,
                codes=("COMPLIANCE_LOCKED",),
            )
        if not body:
            return PushResult(attempts=attempts, remote=remote, provisioning=False, changed=False)
        response = self._request("POST", self.number_url(number_e164), attempts, json_body=body)
        self._json(response, attempts)  # 202 {"message": "changed", "api_id": ...}
        remote = self._fetch(number_e164, attempts)
        return PushResult(attempts=attempts, remote=remote, provisioning=False, changed=True)
