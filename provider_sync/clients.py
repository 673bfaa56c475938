"""The worker process's provider adapters, built from settings, and the adapters' settings values."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from phones.models import Provider
from provider_sync.adapters import PlivoSettings, ProviderAdapter, SinchSettings, get_adapter
from provider_sync.checks import SETTINGS_CLASSES, settings_fields


def settings_object(provider: str, data: Mapping[str, Any] | None) -> SinchSettings | PlivoSettings | None:
    """A job's stored settings as the adapter's dataclass (unknown keys of older rows dropped)."""
    if data is None:
        return None
    known = settings_fields(provider)
    return SETTINGS_CLASSES[Provider(provider)](**{k: v for k, v in data.items() if k in known})


def adapter_config(provider: str) -> dict[str, Any]:
    timeout = settings.PROVIDER_TIMEOUT_SECONDS
    if provider == Provider.SINCH:
        return {
            "base_url": settings.SINCH_NUMBERS_BASE_URL,
            "project_id": settings.SINCH_PROJECT_ID,
            "key_id": settings.SINCH_KEY_ID,
            "key_secret": settings.SINCH_KEY_SECRET,
            "timeout": timeout,
        }
    return {
        "base_url": settings.PLIVO_BASE_URL,
        "auth_id": settings.PLIVO_AUTH_ID,
        "auth_token": settings.PLIVO_AUTH_TOKEN,
        "timeout": timeout,
    }


_adapters: dict[tuple[str, tuple[tuple[str, Any], ...]], ProviderAdapter] = {}
_adapters_lock = threading.Lock()


def build_adapter(provider: str) -> ProviderAdapter:
    """The worker process's adapter for ``provider``, made once and kept.

    Adapters hold nothing but an httpx client (thread-safe, with a keep-alive pool), so jobs share
    it instead of paying a new client and TCP connection each. Keyed by the configuration, so a
    changed base URL or credential gets its own. Made lazily, hence after a prefork worker forked.
    """
    config = adapter_config(provider)
    key = (provider, tuple(sorted(config.items())))
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None:
            adapter = _adapters[key] = get_adapter(provider, config)
    return adapter
