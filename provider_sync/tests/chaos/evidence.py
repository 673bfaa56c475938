"""The run's summary, its failure report and the evidence kept under test-output/."""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

from phones.models import SyncAttempt
from provider_sync.tests.chaos.config import OUTPUT_ROOT
from provider_sync.tests.chaos.report import PROPERTY_TEXT, Violation, write_json


class EvidenceMixin:
    """The summary, the report and the kept evidence of a ``ChaosRun``."""

    # -- the report --------------------------------------------------------------------------

    def delivery_paths(self) -> tuple[int, int]:
        """Tasks that ran on the claim their change took at commit, and tasks that claimed in the
        worker (the workers' logs: each task's success line)."""
        at_commit = in_worker = 0
        for log in self.logs.glob("worker-*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if "succeeded in" not in line:
                    continue
                at_commit += "Task phones.push_claimed_sync_job[" in line
                in_worker += "Task phones.deliver_sync_job" in line  # one job's and a batch's
        return at_commit, in_worker

    def summary(self) -> str:
        jobs = self.collected.get("jobs", [])
        requests = self.collected.get("requests", [])
        callbacks = self.collected.get("callbacks", [])
        statuses = Counter(call.status for call in self.api.calls)
        phases = Counter(call.phase for call in self.api.calls)
        outage = [call for call in self.api.calls if call.phase == "broker-outage"]
        faults_hit = Counter(r.get("fault") for r in requests if r.get("fault"))
        stale = sum(log.read_text(errors="replace").count("'stale'") for log in self.logs.glob("worker-*.log"))
        kinds = Counter(f"{f['kind']}-{f['status']}" if f.get("status") else f["kind"] for f in self.injected)
        timing = []
        for phase in phases:
            times = sorted(call.elapsed for call in self.api.calls if call.phase == phase)
            p50, slowest = times[len(times) // 2], times[-1]
            timing.append(f"{phase} p50 {p50 * 1000:.0f} ms max {slowest * 1000:.0f} ms")
        lines = [
            f"chaos seed {self.cfg.seed}: {len(self.phones)} phones, {len(self.api.calls)} API calls "
            f"(statuses {dict(statuses)}; by phase {dict(phases)}; {len(outage)} during the broker outage)",
            f"jobs {len(jobs)}: {dict(Counter(j['status'] for j in jobs))}; "
            f"by reason {dict(Counter(j['reason'] for j in jobs))}",
            f"provider requests {len(requests)}; faults injected {len(self.injected)} "
            f"({dict(kinds)}); requests hit by a fault {dict(faults_hit)}; "
            f"deliveries that found their claim lost ('stale') {stale}",
            "tasks on a claim taken at commit {}, tasks that claimed in the worker {}".format(*self.delivery_paths()),
            f"callbacks {len(callbacks)}: {dict(Counter(c.get('status') for c in callbacks))}",
            f"API call times: {'; '.join(timing)}",
            f"healing re-syncs {len(self.heal_calls)}; phases (s) "
            + ", ".join(f"{k} {v:.1f}" for k, v in self.phase_seconds.items()),
        ]
        return "\n".join(lines)

    def report(self, violations: list[Violation]) -> str:
        by_prop: dict[str, list[Violation]] = defaultdict(list)
        for v in violations:
            by_prop[v.prop].append(v)
        lines = [
            f"CHAOS FAILED (seed {self.cfg.seed}; replay with CHAOS_SEED={self.cfg.seed}): "
            f"{len(violations)} violation(s) of {len(by_prop)} propert{'y' if len(by_prop) == 1 else 'ies'}",
        ]
        for prop, items in by_prop.items():
            lines.append(
                f"\n[seed {self.cfg.seed}] property {prop!r} ({PROPERTY_TEXT.get(prop, '')}): {len(items)} violation(s)"
            )
            for v in items[:15]:
                lines.append(f"  - {v.subject}: {v.detail}")
            if len(items) > 15:
                lines.append(f"  ... and {len(items) - 15} more (see the report file)")
        lines.append("\n" + self.summary())
        return "\n".join(lines)

    def keep_output(self, violations: list[Violation], error: str = "") -> Path:
        """The evidence, under ``test-output/chaos-<seed>/``."""
        out = OUTPUT_ROOT / f"chaos-{self.cfg.seed}"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        full = [f"[seed {self.cfg.seed}] {v.prop}: {v.subject}: {v.detail}" for v in violations]
        (out / "report.txt").write_text(
            (error + "\n\n" if error else "")
            + self.report(violations)
            + "\n\nALL VIOLATIONS\n"
            + "\n".join(full)
            + "\n"
        )
        write_json(out / "config.json", asdict(self.cfg))
        write_json(out / "timeline.json", self.timeline.events)
        write_json(out / "faults.json", self.injected)
        write_json(out / "api_calls.json", [asdict(call) for call in self.api.calls])
        write_json(out / "violations.json", [asdict(v) for v in violations])
        names = {
            "requests": "sim_requests.json",
            "callbacks": "sim_callbacks.json",
            "numbers": "sim_numbers.json",
            "remaining_faults": "sim_faults_left.json",
            "jobs": "jobs.json",
            "links": "links.json",
            "phones": "phones.json",
            "outcomes": "audit_outcomes.json",
            "integrity": "audit_integrity.json",
            "exited": "exited_processes.json",
            "server_log": "api_server_log.json",
        }
        for key, name in names.items():
            if key in self.collected:
                write_json(out / name, self.collected[key])
        try:
            write_json(out / "attempts.json", list(SyncAttempt.objects.order_by("id").values()))
        except Exception as exc:  # the database may be what failed
            (out / "attempts.json").write_text(json.dumps({"error": repr(exc)}))
        if self.logs.exists():
            shutil.copytree(self.logs, out / "logs", ignore=shutil.ignore_patterns("beat-schedule*"))
        return out
