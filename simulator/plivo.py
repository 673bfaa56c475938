"""The Plivo Number API: GET and POST (alias, application, subaccount, compliance application)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from simulator.state import PLIVO, Numbers, SimulatorError, check_basic, plain_digits

PLIVO_PATH_RE = re.compile(r"^/v1/Account/(?P<auth_id>[^/]+)/Number/(?P<number>[^/]+)/$")
PLIVO_SUBACCOUNT_RE = re.compile(r"^SA[A-Z0-9]{18}$")
PLIVO_COMPLIANCE_EDITABLE: frozenset[str] = frozenset({"pending", "rejected"})
POST_FIELDS = ("app_id", "subaccount", "alias", "compliance_application_id")


def plivo_error(message: str) -> dict[str, Any]:
    return {"api_id": str(uuid.uuid4()), "error": message}


class PlivoNumbers(Numbers):
    """The account's numbers (digits -> internal state) and what the API does with them."""

    provider = PLIVO
    _key = staticmethod(plain_digits)

    # -- control side ------------------------------------------------------------------------------

    def seed(self, number: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a number; ``state`` keys are snake_case as in the API."""
        digits = plain_digits(number)
        if not digits:
            raise SimulatorError("number is required")
        compliance_id = state.get("compliance_application_id")
        entry: dict[str, Any] = {
            "number": digits,
            "alias": state.get("alias"),
            "app_id": state.get("app_id"),
            "sub_account": state.get("sub_account") or state.get("subaccount"),
            "compliance_application_id": compliance_id,
            "compliance_status": state.get("compliance_status") or ("approved" if compliance_id else "pending"),
            "number_type": state.get("number_type") or "local",
            "region": state.get("region") or "United States",
            "added_on": state.get("added_on") or "2024-01-15",
            "renewal_date": state.get("renewal_date") or "2030-01-15",
            "monthly_rental_rate": state.get("monthly_rental_rate") or "0.80000",
        }
        return self._store(digits, entry)

    # -- the API -----------------------------------------------------------------------------------

    def handle(self, method: str, auth_id: str, number: str, auth: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        accounts = {self._config.plivo_auth_id: self._config.plivo_auth_token, **self._config.plivo_subaccounts}
        caller = check_basic(auth, accounts)
        if caller is None or caller != auth_id:
            return 401, plivo_error("Authentication failed: invalid auth_id or auth_token")
        with self._lock:
            entry = self._numbers.get(number)
            if entry is None:
                return 404, plivo_error("not found")
            if method == "GET":
                return 200, self._view(entry)
            if method != "POST":
                return 405, plivo_error(f"method {method} not allowed")
            return self._update(entry, body, caller)

    def _view(self, entry: dict[str, Any]) -> dict[str, Any]:
        app = entry["app_id"]
        account = self._config.plivo_auth_id
        return {
            "api_id": str(uuid.uuid4()),
            "added_on": entry["added_on"],
            "alias": entry["alias"],
            "application": f"/v1/Account/{account}/Application/{app}/" if app else None,
            "carrier": "Plivo",
            "monthly_rental_rate": entry["monthly_rental_rate"],
            "number": entry["number"],
            "number_type": entry["number_type"],
            "region": entry["region"],
            "renewal_date": entry["renewal_date"],
            "resource_uri": f"/v1/Account/{account}/Number/{entry['number']}/",
            "sms_enabled": True,
            "voice_enabled": True,
            "sub_account": entry["sub_account"],
            "compliance_application_id": entry["compliance_application_id"],
            "compliance_status": entry["compliance_status"],
        }

    def _update(self, entry: dict[str, Any], body: Any, caller: str) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, plivo_error("request body must be a JSON object")
        for key, value in body.items():
            if key not in POST_FIELDS:
                return 400, plivo_error(f"unexpected parameter: {key}")
            if not isinstance(value, str):
                return 400, plivo_error(f"{key} must be a string")
        if "subaccount" in body:
            if not caller.startswith("MA"):
                return 401, plivo_error("only the main account can move a number to a subaccount")
            sub = body["subaccount"]
            if sub != self._config.plivo_auth_id and not PLIVO_SUBACCOUNT_RE.match(sub):
                return 400, plivo_error("subaccount must be a valid subaccount auth_id")
        new_compliance = body.get("compliance_application_id")
        if (
            "compliance_application_id" in body
            and new_compliance != entry["compliance_application_id"]
            and entry["compliance_status"] not in PLIVO_COMPLIANCE_EDITABLE
        ):
            return 400, plivo_error(
                "compliance_application_id can only be updated when the compliance status of the "
                f"number is pending or rejected (it is {entry['compliance_status']})"
            )
        if "alias" in body:
            entry["alias"] = body["alias"] or None
        if "app_id" in body:
            entry["app_id"] = body["app_id"] or None
        if "subaccount" in body:
            entry["sub_account"] = None if body["subaccount"] == self._config.plivo_auth_id else body["subaccount"]
        if "compliance_application_id" in body:
            entry["compliance_application_id"] = new_compliance or None
        return 202, {"message": "changed", "api_id": str(uuid.uuid4())}
