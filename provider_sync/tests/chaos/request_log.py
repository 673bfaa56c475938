"""The checks of the simulator's request log: attribution, push-after-success, older-after-newer, overlap."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from phones.models import SyncJobStatus
from provider_sync.tests.chaos.config import CLAIM_HEADER, JOB_HEADER, PROVIDERS
from provider_sync.tests.chaos.report import Req, _epoch, _fmt_ts


class RequestLogMixin:
    """The request-log checks of a ``ChaosRun``."""

    def attributed_requests(self) -> list[Req]:
        reqs = []
        requests = self.collected["requests"]
        if requests and requests[-1]["id"] != len(requests):
            self.fail(
                "attribution",
                "request log",
                f"the simulator's log lost requests: {len(requests)} kept, the last has id {requests[-1]['id']}",
            )
        unattributed = []
        for r in requests:
            if r["provider"] not in PROVIDERS:
                continue
            headers = {key.lower(): value for key, value in (r.get("headers") or {}).items()}
            job, claim = headers.get(JOB_HEADER), headers.get(CLAIM_HEADER)
            if not job or not claim:
                unattributed.append(r)
                continue
            start = _epoch(r["timestamp"])
            digits = (r["number"] or "").lstrip("+")
            reqs.append(
                Req(
                    id=r["id"],
                    job=int(job),
                    claim=claim,
                    provider=r["provider"],
                    number=f"+{digits}",
                    method=r["method"],
                    status=r["status"],
                    fault=r.get("fault"),
                    start=start,
                    end=start + (r.get("duration_ms") or 0.0) / 1000,
                )
            )
        if unattributed and not reqs:
            self.fail(
                "attribution",
                "all requests",
                f"none of the {len(unattributed)} provider requests carries X-Sync-Job / X-Sync-Claim: "
                "properties push-after-success, older-after-newer and overlap cannot be checked",
            )
        else:
            for r in unattributed:
                self.fail(
                    "attribution", f"request {r['id']}", f"{r['method']} {r['path']} without X-Sync-Job/X-Sync-Claim"
                )
        return reqs

    def check_requests(self) -> None:
        reqs = self.attributed_requests()
        jobs = {job["id"]: job for job in self.collected["jobs"]}
        slack = self.cfg.clock_slack
        by_job: dict[int, list[Req]] = defaultdict(list)
        for r in reqs:
            by_job[r.job].append(r)
            job = jobs.get(r.job)
            if job is None:
                self.fail("attribution", f"request {r.id}", f"names job {r.job}, which does not exist")
            elif (job["provider"], job["number"]) != (r.provider, r.number):
                self.fail(
                    "attribution",
                    f"request {r.id}",
                    f"job {r.job} targets {job['provider']} {job['number']}: {r.describe()}",
                )
        # No push after a job succeeded.
        for job_id, rs in by_job.items():
            job = jobs.get(job_id)
            if job is None or job["status"] != SyncJobStatus.SYNCED or job["finished_at"] is None:
                continue
            finished = _epoch(job["finished_at"])
            for r in rs:
                if r.start > finished + slack:
                    self.fail(
                        "push-after-success",
                        f"job {job_id}",
                        f"synced at {_fmt_ts(finished)}, then {r.describe()} "
                        f"({(r.start - finished) * 1000:.0f} ms later)",
                    )
        # No older job wrote after a newer one of its link was claimed.
        has_first_claim = "first_claimed_at" in (self.collected["jobs"][0] if self.collected["jobs"] else {})
        if self.collected["jobs"] and not has_first_claim:
            self.fail("older-after-newer", "SyncJob", "SyncJob.first_claimed_at does not exist: cannot check")
        else:
            by_link: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for job in self.collected["jobs"]:
                by_link[job["link_id"]].append(job)
            for link_id, link_jobs in by_link.items():
                link_jobs.sort(key=lambda j: j["id"])
                # the earliest first claim among the jobs after each one
                later_first: list[tuple[float, int] | None] = [None] * len(link_jobs)
                best: tuple[float, int] | None = None
                for i in range(len(link_jobs) - 1, -1, -1):
                    later_first[i] = best
                    claimed = _epoch(link_jobs[i]["first_claimed_at"])
                    if claimed is not None and (best is None or claimed < best[0]):
                        best = (claimed, link_jobs[i]["id"])
                for i, job in enumerate(link_jobs):
                    if later_first[i] is None:
                        continue
                    claimed, newer = later_first[i]
                    for r in by_job.get(job["id"], []):
                        if r.applied_write and r.end > claimed + slack:
                            self.fail(
                                "older-after-newer",
                                f"job {job['id']} (link {link_id})",
                                f"newer job {newer} first claimed at {_fmt_ts(claimed)}, then {r.describe()} "
                                f"ended {(r.end - claimed) * 1000:.0f} ms later",
                            )
        # No two claims pushed one number at once (hung requests were never answered nor applied).
        by_number: dict[tuple[str, str], list[Req]] = defaultdict(list)
        for r in reqs:
            if not r.hung:
                by_number[(r.provider, r.number)].append(r)
        for (provider, number), rs in by_number.items():
            rs.sort(key=lambda r: r.start)
            active: list[Req] = []
            reported = 0
            for r in rs:
                active = [a for a in active if a.end > r.start + slack]
                for a in active:
                    if (a.job, a.claim) != (r.job, r.claim) and reported < 5:
                        reported += 1
                        self.fail(
                            "overlap",
                            f"{provider} {number}",
                            f"{a.describe()} overlaps {r.describe()} by {(a.end - r.start) * 1000:.0f} ms",
                        )
                active.append(r)
