"""The run's knobs (ChaosConfig, from the environment) and the harness's constants."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

from audit.models import AuditEvent
from phones.models import SyncJobStatus
from provider_sync.tests.conftest import SYNC_TEST_SETTINGS
from provider_sync.tests.test_worker import ROOT

CI = os.environ.get("CI", "").lower() == "true"
OUTPUT_ROOT = ROOT / "test-output"

SINCH, PLIVO = "sinch", "plivo"
PROVIDERS = (SINCH, PLIVO)
WRITE_METHOD = {SINCH: "PATCH", PLIVO: "POST"}
SINCH_VOICE_KEYS = {"RTC": "appId", "EST": "trunkId", "FAX": "serviceId"}
SINCH_VOICE_TARGETS = {"RTC": "app", "EST": "trunk", "FAX": "fax"}
PROVISIONING_RUNNING = ("WAITING", "IN_PROGRESS", "PROVISIONING_STATUS_UNSPECIFIED")
JOB_HEADER, CLAIM_HEADER = "x-sync-job", "x-sync-claim"

# Injected permanent errors carry these marks, so that a job failed by one is told apart.
INJECTED_400 = "chaos: injected 400"
INJECTED_PROVISIONING_CODE = "CHAOS_PROVISIONING_FAILED"
OUTCOME_EVENTS = (
    AuditEvent.PHONE_SYNC_SUCCEEDED,
    AuditEvent.PHONE_SYNC_FAILED,
    AuditEvent.PHONE_PROVISIONING_FINISHED,
)
FINAL_OK = (SyncJobStatus.SYNCED, SyncJobStatus.SUPERSEDED, SyncJobStatus.FAILED)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class ChaosConfig:
    """The run's knobs; every one can be set from the environment (``CHAOS_*``)."""

    seed: int
    phones: int = 100
    ops: int = 300
    lease_seconds: float = 4.0  # four provider timeouts: the shortest lease the fencing allows
    provider_timeout: float = 1.0
    max_attempts: int = 10  # injected retryable faults must never exhaust a job's attempts
    converge_seconds: float = 90.0
    # The slow provider: every request of one provider delayed this much, under the client's
    # timeout (a request past the timeout is applied by the provider after the client gave up:
    # no fencing on our side can order that), so that a batch of pushes outlasts the lease.
    slow_latency_ms: int = 500
    slow_seconds: float = 12.0
    push_threads: int = 2  # a batch of 32 pushes to the slow provider takes 16 rounds: > the lease
    clock_slack: float = 0.025  # all processes share one clock; timestamps are rounded to 1 ms
    keep_output: bool = False

    @classmethod
    def from_env(cls) -> ChaosConfig:
        raw = os.environ.get("CHAOS_SEED", "").strip()
        seed = int(raw) if raw else random.SystemRandom().randrange(1, 1_000_000)
        return cls(
            seed=seed,
            phones=_env_int("CHAOS_PHONES", cls.phones),
            ops=_env_int("CHAOS_OPS", cls.ops),
            lease_seconds=_env_float("CHAOS_LEASE_SECONDS", cls.lease_seconds),
            provider_timeout=_env_float("CHAOS_PROVIDER_TIMEOUT_SECONDS", cls.provider_timeout),
            max_attempts=_env_int("CHAOS_MAX_ATTEMPTS", cls.max_attempts),
            converge_seconds=_env_float("CHAOS_CONVERGE_SECONDS", cls.converge_seconds),
            slow_latency_ms=_env_int("CHAOS_SLOW_LATENCY_MS", cls.slow_latency_ms),
            slow_seconds=_env_float("CHAOS_SLOW_SECONDS", cls.slow_seconds),
            push_threads=_env_int("CHAOS_PUSH_THREADS", cls.push_threads),
            clock_slack=_env_float("CHAOS_CLOCK_SLACK_MS", cls.clock_slack * 1000) / 1000,
            keep_output=os.environ.get("CHAOS_KEEP_OUTPUT", "") not in ("", "0", "false"),
        )

    def worker_settings(self) -> dict[str, Any]:
        """The sync timings of the workers and beat (their environment), and of the API (the test
        process, where a change claims its job at commit)."""
        return {
            **SYNC_TEST_SETTINGS,
            "PROVIDER_TIMEOUT_SECONDS": self.provider_timeout,
            "SYNC_LEASE_SECONDS": self.lease_seconds,
            "SYNC_MAX_ATTEMPTS": self.max_attempts,
            "SYNC_PUSH_THREADS": self.push_threads,
            "SYNC_SWEEP_INTERVAL_SECONDS": 1,
            "SYNC_RECONCILE_INTERVAL_SECONDS": 86400,  # its reads are no job's: keep them out
        }
