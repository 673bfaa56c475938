"""Provider-neutral types for the provider sync: settings, remote state, attempts, errors.

Nothing here imports Django. Adapters take and return these plain dataclasses; the Django side
builds them from its models and stores what comes back (attempts, remote state, errors).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

SINCH: Literal["sinch"] = "sinch"
PLIVO: Literal["plivo"] = "plivo"
PROVIDERS: tuple[str, ...] = (SINCH, PLIVO)

SINCH_VOICE_TYPES: tuple[str, ...] = ("RTC", "EST", "FAX")
# The key that carries the voice target for each Sinch voice configuration type.
SINCH_VOICE_TARGET_KEYS: Mapping[str, str] = {"RTC": "appId", "EST": "trunkId", "FAX": "serviceId"}

# Sinch scheduled provisioning states.
PROVISIONING_WAITING = "WAITING"
PROVISIONING_IN_PROGRESS = "IN_PROGRESS"
PROVISIONING_FAILED = "FAILED"
PROVISIONING_UNSPECIFIED = "PROVISIONING_STATUS_UNSPECIFIED"
PROVISIONING_RUNNING_STATES: frozenset[str] = frozenset(
    {PROVISIONING_WAITING, PROVISIONING_IN_PROGRESS, PROVISIONING_UNSPECIFIED}
)

PLIVO_AUTH_ID_RE = re.compile(r"^(MA|SA)[A-Z0-9]{18}$")
PLIVO_COMPLIANCE_EDITABLE: frozenset[str] = frozenset({"pending", "rejected"})
E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")

RESPONSE_BODY_LIMIT = 4096
MASK = "***"

Problem = tuple[str, str]


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# --------------------------------------------------------------------------------------------
# Desired settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinchSettings:
    """What we want a Sinch active number to hold.

    ``None`` (or ``""``) for ``sms_service_plan_id``/``sms_campaign_id``/voice means "not linked":
    a push unlinks whatever the number is linked to. ``display_name``/``callback_url`` set to
    ``None`` are cleared only when the previous pushed settings had a value (we own them then);
    otherwise they are left as the provider has them.
    """

    display_name: str | None = None
    sms_service_plan_id: str | None = None
    sms_campaign_id: str | None = None
    voice_type: str | None = None  # 'RTC' | 'EST' | 'FAX'
    voice_target_id: str | None = None  # appId (RTC) / trunkId (EST) / serviceId (FAX)
    callback_url: str | None = None

    provider: ClassVar[str] = SINCH

    def validate(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.voice_type and self.voice_type not in SINCH_VOICE_TYPES:
            problems.append(("voice_type", f"must be one of {', '.join(SINCH_VOICE_TYPES)}"))
        if self.voice_type and not self.voice_target_id:
            key = SINCH_VOICE_TARGET_KEYS.get(self.voice_type, "target id")
            problems.append(("voice_target_id", f"voice type {self.voice_type} needs {key}"))
        if self.voice_target_id and not self.voice_type:
            problems.append(("voice_type", "a voice target id needs a voice type"))
        if self.sms_campaign_id and not self.sms_service_plan_id:
            problems.append(("sms_campaign_id", "a campaign needs an SMS service plan"))
        if self.callback_url and not _is_http_url(self.callback_url):
            problems.append(("callback_url", "must be an http(s) URL"))
        if self.display_name is not None and len(self.display_name) > 255:
            problems.append(("display_name", "must be at most 255 characters"))
        return problems


@dataclass(frozen=True)
class PlivoSettings:
    """What we want a Plivo account phone number to hold.

    ``alias=None`` clears the alias only when the previous pushed settings had one.
    ``app_id=None`` detaches the application (inactivation unlinks voice/SMS).
    ``subaccount=None`` and ``compliance_application_id=None`` leave the provider value alone.
    """

    alias: str | None = None
    app_id: str | None = None
    subaccount: str | None = None
    compliance_application_id: str | None = None

    provider: ClassVar[str] = PLIVO

    def validate(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.subaccount and not PLIVO_AUTH_ID_RE.match(self.subaccount):
            problems.append(("subaccount", "must be an auth id: MA or SA followed by 18 letters or digits"))
        if self.app_id is not None and self.app_id != "" and not self.app_id.strip():
            problems.append(("app_id", "must not be blank"))
        if self.alias is not None and len(self.alias) > 255:
            problems.append(("alias", "must be at most 255 characters"))
        return problems


ProviderSettings = SinchSettings | PlivoSettings


# --------------------------------------------------------------------------------------------
# Remote state
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledProvisioning:
    """Sinch ``scheduledProvisioning`` (SMS) or ``scheduledVoiceProvisioning`` (voice)."""

    kind: Literal["sms", "voice"]
    status: str
    error_codes: tuple[str, ...] = ()
    last_updated_time: str | None = None
    service_plan_id: str | None = None  # sms
    campaign_id: str | None = None  # sms
    voice_type: str | None = None  # voice
    voice_target_id: str | None = None  # voice

    @property
    def running(self) -> bool:
        return self.status in PROVISIONING_RUNNING_STATES

    @property
    def failed(self) -> bool:
        return self.status == PROVISIONING_FAILED


@dataclass(frozen=True)
class RemoteNumber:
    """What the provider currently holds for a number, normalised, plus the raw answer."""

    provider: str
    number_e164: str
    settings: SinchSettings | PlivoSettings
    raw: dict[str, Any] = field(default_factory=dict)
    # Sinch scheduled provisioning (None when no job is running or failed).
    sms_provisioning: ScheduledProvisioning | None = None
    voice_provisioning: ScheduledProvisioning | None = None
    # Plivo compliance status ('pending', 'rejected', 'approved', ...).
    compliance_status: str | None = None

    @property
    def provisioning(self) -> bool:
        """True while a Sinch scheduled provisioning job is WAITING / IN_PROGRESS."""
        return any(p is not None and p.running for p in (self.sms_provisioning, self.voice_provisioning))

    @property
    def provisioning_failed(self) -> bool:
        return any(p is not None and p.failed for p in (self.sms_provisioning, self.voice_provisioning))

    @property
    def provisioning_error_codes(self) -> tuple[str, ...]:
        codes: list[str] = []
        for p in (self.sms_provisioning, self.voice_provisioning):
            if p is not None and p.failed:
                codes.extend(p.error_codes)
        return tuple(codes)


# --------------------------------------------------------------------------------------------
# Attempts and results
# --------------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One HTTP call to a provider, as recorded for the operator (secrets masked)."""

    provider: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    started_at: datetime
    status_code: int | None = None
    response_body: str = ""
    duration_ms: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        return data


@dataclass(frozen=True)
class Call:
    """Who is calling the provider, for every request of one push or poll.

    ``headers`` identify the work to the provider and in its logs (the sync job and its claim);
    ``check`` runs before every request and raises ``CallWithdrawn`` when the caller may no
    longer send (its claim was lost): the push stops there, before the request.
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[], None] | None = None


class CallLog(list["Attempt"]):
    """The attempts of one push or poll (a list, as the callers store them) and its ``Call``."""

    def __init__(self, call: Call | None = None) -> None:
        super().__init__()
        self.call = call or Call()


@dataclass
class PushResult:
    attempts: list[Attempt]
    remote: RemoteNumber
    provisioning: bool
    changed: bool  # at least one write request was sent


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ProviderError(Exception):
    """A provider call failed. ``message`` keeps the provider's own text."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        status: int | None = None,
        codes: Sequence[str] = (),
        attempts: Sequence[Attempt] = (),
        *,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.codes: tuple[str, ...] = tuple(codes)
        self.attempts: list[Attempt] = list(attempts)
        self.provider = provider

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep status/codes/attempts/retry_after through pickling (Celery results, logging).
        return (self.__class__, (self.message,), self.__dict__)

    def __str__(self) -> str:
        prefix = f"{self.provider} " if self.provider else ""
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{prefix}{status}{self.message}"


class RetryableProviderError(ProviderError):
    """429, 5xx, timeouts, refused connections: the caller may retry with backoff."""

    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        status: int | None = None,
        codes: Sequence[str] = (),
        attempts: Sequence[Attempt] = (),
        *,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message, status, codes, attempts, provider=provider)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """400, 401, 403, 404, 405, 409, 422 and local rule violations: do not retry."""


class CallWithdrawn(ProviderError):
    """The caller withdrew before a request was sent (``Call.check`` refused): not the
    provider's doing, and nothing of it is an outcome. ``attempts`` holds what was sent before."""


# --------------------------------------------------------------------------------------------
# Adapter interface
# --------------------------------------------------------------------------------------------


class ProviderAdapter(abc.ABC):
    provider: ClassVar[str]

    @abc.abstractmethod
    def push(
        self,
        number_e164: str,
        desired: Any,
        previous: Any | None = None,
        *,
        call: Call | None = None,
    ) -> PushResult:
        """Bring the provider number to ``desired`` (idempotent). One attempt per HTTP call;
        ``call.check`` before each."""

    @abc.abstractmethod
    def fetch(self, number_e164: str, *, call: Call | None = None) -> RemoteNumber:
        """Read the number as the provider holds it."""

    @abc.abstractmethod
    def poll_provisioning(self, number_e164: str, desired: Any, *, call: Call | None = None) -> PushResult:
        """One read while a push's scheduled provisioning runs (``PushResult.provisioning`` says
        whether it still does); raises ``PermanentProviderError`` when it ended FAILED. A provider
        without scheduled provisioning answers from a plain read."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the HTTP client."""

    def __enter__(self) -> ProviderAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
