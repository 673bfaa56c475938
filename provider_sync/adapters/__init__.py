"""Provider adapters (Sinch, Plivo) behind one interface (``ProviderAdapter``). Plain Python, no
Django: they take and return dataclasses, never models."""

from collections.abc import Mapping
from typing import Any

from provider_sync.adapters.base import (
    PLIVO,
    SINCH,
    Attempt,
    Call,
    CallLog,
    CallWithdrawn,
    PermanentProviderError,
    PlivoSettings,
    ProviderAdapter,
    ProviderError,
    PushResult,
    RemoteNumber,
    RetryableProviderError,
    ScheduledProvisioning,
    SinchSettings,
)
from provider_sync.adapters.plivo import PlivoAdapter
from provider_sync.adapters.sinch import SinchAdapter

__all__ = [
    "ADAPTERS",
    "PLIVO",
    "SINCH",
    "Attempt",
    "Call",
    "CallLog",
    "CallWithdrawn",
    "PermanentProviderError",
    "PlivoAdapter",
    "PlivoSettings",
    "ProviderAdapter",
    "ProviderError",
    "PushResult",
    "RemoteNumber",
    "RetryableProviderError",
    "ScheduledProvisioning",
    "SinchAdapter",
    "SinchSettings",
    "get_adapter",
]


ADAPTERS: dict[str, type[SinchAdapter] | type[PlivoAdapter]] = {SINCH: SinchAdapter, PLIVO: PlivoAdapter}


def get_adapter(provider: str, config: Mapping[str, Any]) -> ProviderAdapter:
    """Build the adapter for ``provider`` ('sinch' or 'plivo').

    ``config`` keys: ``base_url``; timeouts ``timeout`` (default 10 s) and optionally
    ``connect_timeout``, ``read_timeout``, ``write_timeout``, ``pool_timeout``;
    Sinch: ``project_id``, ``key_id``, ``key_secret``; Plivo: ``auth_id``, ``auth_token``.
    """
    try:
        adapter = ADAPTERS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}") from None
    return adapter.from_config(config)
