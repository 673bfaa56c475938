"""The convergence wait and the checks of the database, the providers, the outcomes and the audit."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

from phones.models import OPEN_JOB_STATUSES, SyncJob, SyncJobStatus
from provider_sync.tests.chaos.config import FINAL_OK, INJECTED_400, INJECTED_PROVISIONING_CODE, SINCH
from provider_sync.tests.chaos.model import plivo_view, sinch_services, sinch_view
from provider_sync.tests.chaos.report import Violation, _json_default


class ChecksMixin:
    """The convergence wait and the checks of a ``ChaosRun`` (all but the request log's)."""

    def open_jobs(self) -> list[dict[str, Any]]:
        return list(
            SyncJob.objects.filter(status__in=OPEN_JOB_STATUSES)
            .order_by("id")
            .values(
                "id",
                "link_id",
                "provider",
                "number",
                "reason",
                "status",
                "attempts",
                "polls",
                "next_attempt_at",
                "locked_until",
                "last_status",
                "last_error",
            )
        )

    def wait_converged(self, seconds: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            still = self.open_jobs()
            if not still or time.monotonic() > deadline:
                return still
            time.sleep(0.5)

    # -- the checks --------------------------------------------------------------------------

    def fail(self, prop: str, subject: str, detail: str) -> None:
        self.violations.append(Violation(prop, subject, detail))

    def check(self) -> list[Violation]:
        self.violations = []
        if self.open_after_wait:
            for job in self.open_after_wait:
                self.fail("convergence", f"job {job['id']}", json.dumps(job, default=_json_default))
        if "jobs" not in self.collected:
            self.fail("convergence", "run", "the run stopped before its results were collected")
            return self.violations
        self.check_api()
        self.check_committed()
        self.check_provider_state()
        self.check_requests()
        self.check_outcomes()
        self.check_audit()
        self.check_callbacks_and_processes()
        self.check_paths()
        return self.violations

    def check_paths(self) -> None:
        # A run that never took one of the two ways proved nothing about it.
        at_commit, in_worker = self.delivery_paths()
        if not at_commit:
            self.fail("paths", "claim at commit", "no task pushed on a claim its change took at commit")
        if not in_worker:
            self.fail("paths", "claim in the worker", "no task claimed its jobs in the worker")

    def check_api(self) -> None:
        for call in self.api.calls:
            if not call.ok:
                self.fail("api", f"call #{call.index}", call.describe())

    def check_committed(self) -> None:
        links = {row["phone_id"]: row for row in self.collected["links"]}
        phones = {row["id"]: row for row in self.collected["phones"]}
        for model in self.phones:
            row = phones.get(model.pk)
            if row is None:
                self.fail("committed", f"phone {model.pk}", "missing from the database")
                continue
            want = {"e164": model.number.e164, "active": model.active, "type": model.type, "extension": model.extension}
            have = {key: row[key] for key in want}
            if want != have:
                self.fail("committed", f"phone {model.pk}", f"API accepted {want}, database holds {have}")
            link = links.get(model.pk)
            if model.link is None:
                if link is not None:
                    self.fail("committed", f"phone {model.pk}", f"has a link the API never made: {link}")
                continue
            if link is None:
                self.fail("committed", f"phone {model.pk}", "the API's link is missing from the database")
                continue
            want_link = {"provider": model.link.provider, "settings": model.link.settings, "linked": model.link.linked}
            have_link = {key: link[key] for key in want_link}
            if want_link != have_link:
                self.fail(
                    "committed", f"link of phone {model.pk}", f"API accepted {want_link}, database holds {have_link}"
                )

    def _jobs_by_target(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        by_target: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for job in self.collected["jobs"]:
            by_target[(job["provider"], job["number"])].append(job)
        return by_target

    def _history(self, jobs: list[dict[str, Any]], limit: int = 6) -> str:
        return ", ".join(
            f"#{j['id']} {j['reason']} {j['status']}{' ' + repr(j['last_error'][:80]) if j['last_error'] else ''}"
            for j in jobs[-limit:]
        )

    def check_provider_state(self) -> None:
        states = {(row["provider"], "+" + row["number"].lstrip("+")): row["state"] for row in self.collected["numbers"]}
        by_target = self._jobs_by_target()
        current: set[tuple[str, str]] = set()
        for link in self.collected["links"]:
            target = (link["provider"], link["remote_number"] or link["phone__e164"])
            state = states.get(target)
            subject = f"link {link['id']} (phone {link['phone_id']}) {target[0]} {target[1]}"
            history = self._history(by_target.get(target, []))
            if state is None:
                self.fail("provider-state", subject, "the simulator does not know the number")
                continue
            settings = link["settings"]
            if link["linked"]:
                current.add(target)
            if target[0] == SINCH:
                have = sinch_view(state)
                want = sinch_services(settings) if (link["linked"] and link["phone__active"]) else sinch_services({})
                if link["linked"]:
                    want |= {"display_name": settings.get("display_name"), "callback_url": settings.get("callback_url")}
                if have["provisioning_running"]:
                    self.fail(
                        "provider-state",
                        subject,
                        f"scheduled provisioning still running: {have['provisioning_running']}",
                    )
            else:
                have = plivo_view(state)
                want = {"app_id": settings.get("app_id") if (link["linked"] and link["phone__active"]) else None}
                if link["linked"]:
                    want["alias"] = settings.get("alias")
            wrong = {key: (value, have.get(key)) for key, value in want.items() if have.get(key) != value}
            if wrong:
                detail = "; ".join(f"{key}: want {w!r}, provider has {h!r}" for key, (w, h) in wrong.items())
                linked = "linked" if link["linked"] else "unlinked"
                active = "active" if link["phone__active"] else "inactive"
                self.fail("provider-state", subject, f"({linked}, phone {active}) {detail}; jobs: {history}")
        # Every number a job ever targeted that no link holds now gave up its services, unless its
        # last job failed by an injected permanent error (a release cannot be re-synced).
        for target, jobs in sorted(by_target.items()):
            if target in current:
                continue
            state = states.get(target)
            if state is None:
                self.fail("released", f"{target[0]} {target[1]}", "the simulator does not know the number")
                continue
            last = jobs[-1]
            if last["status"] == SyncJobStatus.FAILED and self._injected_failure(last):
                continue
            if target[0] == SINCH:
                view = sinch_view(state)
                services = {k: view[k] for k in ("sms_service_plan_id", "sms_campaign_id", "voice_target_id")}
                held = {k: v for k, v in services.items() if v}
                if view["provisioning_running"]:
                    held["provisioning"] = view["provisioning_running"]
            else:
                held = {k: v for k, v in plivo_view(state).items() if k == "app_id" and v}
            if held:
                self.fail("released", f"{target[0]} {target[1]}", f"still holds {held}; jobs: {self._history(jobs)}")

    def _injected_failure(self, job: dict[str, Any]) -> bool:
        return (job["last_status"] == 400 and INJECTED_400 in (job["last_error"] or "")) or (
            INJECTED_PROVISIONING_CODE in (job["last_error_codes"] or [])
        )

    def check_outcomes(self) -> None:
        for job in self.collected["jobs"]:
            if job["status"] not in FINAL_OK:
                continue  # reported by "convergence"
            if job["status"] == SyncJobStatus.FAILED and not self._injected_failure(job):
                self.fail(
                    "outcomes",
                    f"job {job['id']}",
                    f"{job['reason']} {job['provider']} {job['number']} failed after {job['attempts']} attempt(s), "
                    f"not by an injected error: status {job['last_status']}, {job['last_error']!r}, "
                    f"codes {job['last_error_codes']}",
                )

    def check_audit(self) -> None:
        calls = {call.request_id: call for call in self.api.calls}
        per_job: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for entry in self.collected["outcomes"]:
            job_id = ((entry["payload"] or {}).get("object") or {}).get("job_id")
            if job_id is None:
                self.fail("audit", f"entry {entry['id']}", f"{entry['event']} without a job_id in its payload object")
                continue
            per_job[job_id].append(entry)
        for job in self.collected["jobs"]:
            entries = per_job.get(job["id"], [])
            finished = job["status"] in (SyncJobStatus.SYNCED, SyncJobStatus.FAILED)
            want = 1 if finished else 0
            if len(entries) != want:
                self.fail(
                    "audit",
                    f"job {job['id']}",
                    f"{job['status']} job has {len(entries)} outcome entries (want {want}): "
                    + ", ".join(f"{e['id']} {e['event']}" for e in entries),
                )
            for entry in entries:
                if entry["operator_email"] != job["operator_email"]:
                    self.fail(
                        "audit",
                        f"job {job['id']}",
                        f"outcome entry {entry['id']} names {entry['operator_email']!r}, the job's operator is "
                        f"{job['operator_email']!r}",
                    )
            call = calls.get(job["request_id"])
            if call is None:
                self.fail("audit", f"job {job['id']}", f"request id {job['request_id']!r} is none of the API calls")
            elif call.operator != job["operator_email"]:
                self.fail(
                    "audit",
                    f"job {job['id']}",
                    f"caused by call #{call.index} of {call.operator!r}, the job names {job['operator_email']!r}",
                )
        for problem in self.collected["integrity"]:
            self.fail("audit", "audit_verify", problem)

    def check_callbacks_and_processes(self) -> None:
        for delivery in self.collected["callbacks"]:
            status = delivery.get("status")
            if status is None or status >= 500:
                event = delivery.get("event") or {}
                self.fail(
                    "callbacks",
                    f"{event.get('resourceId')} {event.get('eventType')} {event.get('status')}",
                    f"delivered at {delivery.get('delivered_at')}: status {status}, error {delivery.get('error')!r}",
                )
        for record in self.collected.get("server_log", []):
            if (
                record["logger"] == "phones.sync"
                and "sinch callback" in record["message"]
                and "not applied" in record["message"]
            ):
                self.fail("callbacks", "sinch callback", f"a database error answered 200: {record['message'][:300]}")
        for exited in self.collected.get("exited", []):
            self.fail(
                "processes",
                f"pid {exited['pid']}",
                f"exited by itself with {exited['returncode']} ({exited['log']}):\n{exited['tail']}",
            )
