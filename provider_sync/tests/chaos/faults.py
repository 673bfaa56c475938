"""The chaos of the run: injected faults, the worker kill, the broker outage, the slow provider."""

from __future__ import annotations

import time
from typing import Any

from phones.models import OPEN_JOB_STATUSES, SyncJob
from provider_sync.tests.chaos.config import INJECTED_400, INJECTED_PROVISIONING_CODE, PROVIDERS, SINCH, WRITE_METHOD
from provider_sync.tests.test_worker import wait_for


class FaultsMixin:
    """The faults and the scenario of a ``ChaosRun``: what goes wrong, and when."""

    # -- the faults --------------------------------------------------------------------------

    def inject(self, spec: dict[str, Any], op: int) -> None:
        added = self.sim.add_fault(spec)
        self.injected.append({"op": op, "t": round(time.time() - self.timeline.started, 3), **spec, "id": added["id"]})

    def random_fault(self, op: int) -> None:
        rng = self.rng
        kind = rng.choices(
            ["status", "rate_limit", "latency", "hang", "permanent", "provisioning"], [30, 14, 22, 10, 6, 6]
        )[0]
        provider = rng.choice(PROVIDERS)
        linked = [p for p in self.phones if p.linked and p.active]
        target = rng.choice(linked) if linked else None
        number = target.number.e164 if target is not None and rng.random() < 0.3 else None
        method = rng.choice([None, "GET", WRITE_METHOD[provider]])
        if kind == "status":
            spec = {
                "kind": "status",
                "provider": provider,
                "method": method,
                "number": number,
                "status": rng.choice([500, 502, 503]),
                "count": rng.randint(1, 3),
            }
        elif kind == "rate_limit":
            spec = {
                "kind": "rate_limit",
                "provider": provider,
                "method": method,
                "number": number,
                "retry_after": rng.choice([1, 2]),
                "count": rng.randint(1, 2),
            }
        elif kind == "latency":
            # Latency faults add up: their sum stays well under the client's timeout (a request
            # answered after the client gave up is applied all the same: nothing can order it).
            latency = rng.randint(50, 350)
            active = sum(f["latency_ms"] for f in self.sim.faults() if f["kind"] == "latency")
            if self.slow_provider is not None or active + latency > 600 * self.cfg.provider_timeout:
                return
            spec = {
                "kind": "latency",
                "provider": provider,
                "method": method,
                "latency_ms": latency,
                "count": rng.randint(1, 6),
            }
        elif kind == "hang":  # past the client's timeout: dropped unanswered, never applied
            spec = {
                "kind": "hang",
                "provider": provider,
                "method": method,
                "hang_seconds": round(self.cfg.provider_timeout * rng.uniform(1.3, 2.5), 2),
                "count": 1,
            }
        elif kind == "permanent":
            if target is None or sum(1 for f in self.injected if f.get("status") == 400) >= 6:
                return
            provider = target.link.provider
            message = f"{INJECTED_400} #{self._next()}"
            body: Any = (
                {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": []}}
                if provider == SINCH
                else {"api_id": "chaos", "error": message}
            )
            spec = {
                "kind": "status",
                "provider": provider,
                "method": WRITE_METHOD[provider],
                "number": target.number.e164,
                "status": 400,
                "body": body,
                "count": 1,
            }
        else:
            sinch = [p for p in linked if p.link.provider == SINCH]
            if not sinch or sum(1 for f in self.injected if f["kind"] == "provisioning_failure") >= 5:
                return
            target = rng.choice(sinch)
            spec = {
                "kind": "provisioning_failure",
                "provider": SINCH,
                "number": target.number.e164,
                "error_codes": [INJECTED_PROVISIONING_CODE],
                "count": 1,
            }
        self.inject(spec, op)
        if kind in ("permanent", "provisioning") and target is not None:
            # A change of that link at once, so that the permanent error meets a job (which then
            # fails; the link is re-synced after the run: ``heal``).
            self.put_link(target, target.link.provider, f"settings-after-{kind}", provision=kind == "provisioning")

    # -- the scenario ------------------------------------------------------------------------

    def run_changes(self) -> None:
        cfg, rng = self.cfg, self.rng
        n = cfg.ops
        kill_at = rng.randint(int(n * 0.15), int(n * 0.25))
        restart_after = rng.randint(6, 12)
        outage_at = rng.randint(int(n * 0.40), int(n * 0.50))
        outage_ops = rng.randint(15, 25)
        outage_min_seconds = rng.uniform(3.0, 5.0)
        slow_at = max(rng.randint(int(n * 0.62), int(n * 0.70)), outage_at + outage_ops + 5)
        slow_burst = rng.randint(40, 60)
        slow_provider = rng.choice(PROVIDERS)
        self.timeline.mark(
            "schedule",
            kill_at=kill_at,
            restart_after=restart_after,
            outage_at=outage_at,
            outage_ops=outage_ops,
            slow_at=slow_at,
            slow_provider=slow_provider,
        )
        assert self.stack is not None
        killed = None
        outage_started = slow_started = None
        op = 0
        self.api.phase = "changes"
        while op < n:
            if op == kill_at:
                killed = rng.choice(self.stack.workers)
                self.stack.sigkill(killed)
                self.timeline.mark("worker SIGKILLed", op=op, pid=killed.pid)
            if killed is not None and op == kill_at + restart_after:
                proc = self.stack.start_worker()
                self.timeline.mark("worker restarted", op=op, pid=proc.pid)
                killed = None
            if op == outage_at:
                self.redis.stop()
                self.api.phase = "broker-outage"
                outage_started = time.time()
                self.timeline.mark("broker stopped", op=op)
            if outage_started is not None and op >= outage_at + outage_ops:
                time.sleep(max(0.0, outage_min_seconds - (time.time() - outage_started)))
                self.redis.start()
                self.api.phase = "changes"
                self.timeline.mark("broker started again", op=op, down_seconds=round(time.time() - outage_started, 1))
                outage_started = None
            if op == slow_at:
                self.inject(
                    {"kind": "latency", "provider": slow_provider, "latency_ms": cfg.slow_latency_ms, "count": None},
                    op,
                )
                self.api.phase = f"slow-{slow_provider}"
                self.slow_provider = slow_provider
                slow_started = time.time()
                self.timeline.mark("provider slow", op=op, provider=slow_provider, latency_ms=cfg.slow_latency_ms)
                self.bulk_resync(slow_provider)  # all its numbers at once: one batch outlasts the lease
            if slow_started is not None and op < slow_at + slow_burst:
                self.random_change(only_provider=slow_provider)  # a backlog of pushes to the slow one
                op += 1
                continue
            if slow_started is not None and time.time() - slow_started >= cfg.slow_seconds:
                self.sim.clear_faults()  # the control API removes all faults at once
                self.api.phase = "changes"
                self.slow_provider = None
                self.timeline.mark("provider fast again (faults cleared)", op=op)
                slow_started = None
            if rng.random() < 0.12:
                self.random_fault(op)
            self.random_change()
            op += 1
            time.sleep(0.0 if rng.random() < 0.3 else rng.uniform(0.03, 0.25))
        if outage_started is not None:
            self.redis.start()
            self.timeline.mark("broker started again", op=op)
        if killed is not None:
            self.stack.start_worker()
            self.timeline.mark("worker restarted", op=op)
        if slow_started is not None:
            self.sim.clear_faults()
            self.slow_provider = None
            self.timeline.mark("provider fast again (faults cleared)", op=op)
        self.last_failures(op)
        self.api.phase = "after"
        self.timeline.mark("changes done", api_calls=len(self.api.calls))

    def last_failures(self, op: int) -> None:
        """The last changes meet a permanent error (a 400; a failed Sinch provisioning), so that
        links end the run with a failed job: ``heal`` re-syncs them, as an operator would."""
        rng = self.rng
        linked = [p for p in self.phones if p.linked and p.active]
        sinch = [p for p in linked if p.link.provider == SINCH]
        jobs = []
        if linked:
            target = rng.choice(linked)
            provider = target.link.provider
            message = f"{INJECTED_400} #{self._next()} (last)"
            body: Any = (
                {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": []}}
                if provider == SINCH
                else {"api_id": "chaos", "error": message}
            )
            self.inject(
                {
                    "kind": "status",
                    "provider": provider,
                    "method": WRITE_METHOD[provider],
                    "number": target.number.e164,
                    "status": 400,
                    "body": body,
                    "count": 1,
                },
                op,
            )
            jobs.append(self.put_link(target, provider, "settings-after-permanent"))
        others = [p for p in sinch if not linked or p is not target]
        if others:
            target = rng.choice(others)
            self.inject(
                {
                    "kind": "provisioning_failure",
                    "provider": SINCH,
                    "number": target.number.e164,
                    "error_codes": [INJECTED_PROVISIONING_CODE],
                    "count": 1,
                },
                op,
            )
            jobs.append(self.put_link(target, SINCH, "settings-after-provisioning", provision=True))
        ids = [call.response["latest_job"]["id"] for call in jobs if call.ok and call.response.get("latest_job")]
        wait_for(
            lambda: not SyncJob.objects.filter(pk__in=ids, status__in=OPEN_JOB_STATUSES).exists(),
            30,
            f"the jobs of the last changes {ids} to end",
        )
        self.timeline.mark("last changes met their permanent errors", jobs=ids)
