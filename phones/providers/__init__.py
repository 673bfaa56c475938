"""Provider adapters (Sinch, Plivo) and the provider simulator. Plain Python, no Django."""

from phones.providers.base import (
    PLIVO,
    SINCH,
    Attempt,
    PermanentProviderError,
    PlivoSettings,
    ProviderAdapter,
    ProviderError,
    PushResult,
    RemoteNumber,
    RetryableProviderError,
    ScheduledProvisioning,
    SinchSettings,
    get_adapter,
)

__all__ = [
    "PLIVO",
    "SINCH",
    "Attempt",
    "PermanentProviderError",
    "PlivoSettings",
    "ProviderAdapter",
    "ProviderError",
    "PushResult",
    "RemoteNumber",
    "RetryableProviderError",
    "ScheduledProvisioning",
    "SinchSettings",
    "get_adapter",
]
