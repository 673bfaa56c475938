"""The chaos run itself: set-up of the stack, the phases in order, the collection of the results."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from audit.integrity import audit_verify
from audit.models import AuditEntry
from phones.models import Phone, ProviderLink, SyncJob, SyncJobStatus
from provider_sync.tests.chaos.checks import ChecksMixin
from provider_sync.tests.chaos.clients import Api, ApiCall, SimControl
from provider_sync.tests.chaos.config import OUTCOME_EVENTS, ChaosConfig
from provider_sync.tests.chaos.drive import DriveMixin
from provider_sync.tests.chaos.evidence import EvidenceMixin
from provider_sync.tests.chaos.faults import FaultsMixin
from provider_sync.tests.chaos.model import NumberPool, PhoneModel
from provider_sync.tests.chaos.report import ServerLog, Timeline, Violation
from provider_sync.tests.chaos.request_log import RequestLogMixin
from provider_sync.tests.chaos.stack import RedisServer, Stack, publishing_to, worker_env


class ChaosRun(DriveMixin, FaultsMixin, ChecksMixin, RequestLogMixin, EvidenceMixin):
    """One seeded run: set-up, the changes under faults, the wait, the checks, the report."""

    def __init__(
        self,
        cfg: ChaosConfig,
        *,
        redis_binary: str,
        sim_url: str,
        api_url: str,
        operators: dict[str, Any],
        workdir: Path,
    ) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(redis_binary, self.logs / "redis.log")
        self.sim = SimControl(sim_url)
        self.sim_url = sim_url
        self.callback_url = f"{api_url}/providers/sinch/callback"
        self.operators = operators  # email -> operator
        from rest_framework_simplejwt.tokens import RefreshToken

        tokens = {email: str(RefreshToken.for_user(user).access_token) for email, user in operators.items()}
        self.api = Api(api_url, cfg.seed, tokens)
        self.emails = sorted(operators)
        self.pool = NumberPool(self.rng)
        self.phones: list[PhoneModel] = []
        self.timeline = Timeline()
        self.stack: Stack | None = None
        self.injected: list[dict[str, Any]] = []
        self.serial = 0
        self.inactivations = 0
        self.slow_provider: str | None = None  # while one provider is slow
        self.heal_calls: list[ApiCall] = []
        self.open_after_wait: list[dict[str, Any]] = []
        self.collected: dict[str, Any] = {}
        self.violations: list[Violation] = []
        self.phase_seconds: dict[str, float] = {}
        self.server_log = ServerLog()

    # -- the stack ---------------------------------------------------------------------------

    def start_stack(self) -> None:
        self.redis.start()
        self.timeline.mark("redis started", port=self.redis.port)
        self.stack = Stack(worker_env(self.cfg, self.sim_url, self.redis.url), self.logs)
        for _ in range(2):
            self.stack.start_worker()
        self.stack.start_beat()
        self.timeline.mark("workers and beat started", pids=[p.pid for p, _ in self.stack.procs])

    def stop_stack(self) -> None:
        if self.stack is not None:
            self.stack.stop_all()
        self.redis.stop()
        self.api.close()
        self.sim.close()

    def heal(self) -> None:
        """A link whose latest job failed (an injected permanent error) is re-synced, as an
        operator would once the provider is fixed: then every link's state can be checked."""
        latest: dict[int, dict[str, Any]] = {}
        for job in SyncJob.objects.order_by("id").values("id", "link_id", "status", "phone_id"):
            latest[job["link_id"]] = job
        by_pk = {p.pk: p for p in self.phones}
        self.api.phase = "heal"
        for job in latest.values():
            if job["status"] == SyncJobStatus.FAILED:
                phone = by_pk[job["phone_id"]]
                self.heal_calls.append(self.api.call("heal-resync", self.emails[0], "POST", f"{phone.path}/sync"))
        self.timeline.mark("healing re-syncs", calls=len(self.heal_calls))

    def execute(self) -> None:
        """The whole run; ``check`` afterwards."""
        started = time.time()
        try:
            self.start_stack()
            self.phase_seconds["start"] = time.time() - started
            with publishing_to(self.redis.url), self.server_log.attached():
                t = time.time()
                self.create_phones()
                self.link_phones()
                self.phase_seconds["setup"] = time.time() - t
                t = time.time()
                self.run_changes()
                self.phase_seconds["changes"] = time.time() - t
                t = time.time()
                self.sim.clear_faults()
                self.timeline.mark("faults cleared; waiting for convergence")
                self.open_after_wait = self.wait_converged(self.cfg.converge_seconds)
                self.timeline.mark(
                    "converged" if not self.open_after_wait else "NOT converged", open=len(self.open_after_wait)
                )
                if not self.open_after_wait:
                    self.heal()
                    self.open_after_wait = self.wait_converged(30)
                    self.timeline.mark("healed" if not self.open_after_wait else "NOT converged after healing")
                time.sleep(1.5)  # late callbacks, and any stray request, reach the logs
                self.phase_seconds["converge"] = time.time() - t
                self.collect()
        finally:
            self.collected["server_log"] = self.server_log.records
            if "requests" not in self.collected:  # the run broke off: keep what can be read
                try:
                    self.collect()
                except Exception as exc:
                    self.collected["collect_error"] = repr(exc)
            if self.stack is not None:
                self.collected["exited"] = [
                    {"pid": proc.pid, "returncode": proc.returncode, "log": str(log), "tail": log.read_text()[-3000:]}
                    for proc, log in self.stack.exited_by_themselves()
                ]
            self.stop_stack()
            self.phase_seconds["total"] = time.time() - started

    # -- collecting --------------------------------------------------------------------------

    def collect(self) -> None:
        job_fields = [f.attname for f in SyncJob._meta.concrete_fields]
        self.collected.update(
            jobs=list(SyncJob.objects.order_by("id").values(*job_fields)),
            links=list(
                ProviderLink.objects.order_by("id").values(
                    "id",
                    "phone_id",
                    "provider",
                    "remote_number",
                    "settings",
                    "linked",
                    "sync_state",
                    "last_error",
                    "pushed_settings",
                    "phone__e164",
                    "phone__active",
                )
            ),
            phones=list(
                Phone.objects.order_by("id").values("id", "account_id", "number", "e164", "type", "extension", "active")
            ),
            outcomes=list(
                AuditEntry.objects.filter(event__in=OUTCOME_EVENTS)
                .order_by("id")
                .values("id", "event", "phone_id", "operator_email", "origin", "payload")
            ),
            integrity=[str(problem) for problem in audit_verify()],
            requests=self.sim.requests(),
            callbacks=self.sim.callbacks(),
            numbers=self.sim.numbers(),
            remaining_faults=self.sim.faults(),
        )
