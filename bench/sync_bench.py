"""Provider sync under a burst: the product's outbox pipeline against a bare Celery task.

Runs inside the harness process (Django set up on the bench database). The product side links
N phones to Plivo numbers in the simulator (through ``phones.sync.provider_link_set``), then
commits N phone changes in a burst through ``phones.services.phone_update``; two Celery worker
processes deliver the outbox jobs. Measured per change: commit -> the provider's POST
(simulator request log) and commit -> job ``synced`` (``finished_at``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from bench.common import PY, REDIS_URL, SIM_PORT, bench_env, log, spawn, stop, wait_port

SIM = f"http://127.0.0.1:{SIM_PORT}"
QUIET = ("--without-gossip", "--without-mingle", "--without-heartbeat")
REF_ARGS = ("-l", "WARNING", "-Q", "bench-reference", *QUIET)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def _sim_post_times(http: httpx.Client) -> dict[str, float]:
    """Number (digits) -> time of the first POST the simulator received for it."""
    data = http.get(f"{SIM}/_sim/requests", params={"provider": "plivo"}, timeout=60).json()["requests"]
    seen: dict[str, float] = {}
    for req in data:
        if req["method"] != "POST":
            continue
        digits = "".join(ch for ch in (req.get("number") or req["path"].split("/Number/")[-1]) if ch.isdigit())
        ts = datetime.fromisoformat(req["timestamp"].replace("Z", "+00:00")).timestamp()
        seen.setdefault(digits, ts)
    return seen


def _workers(cmd: list[str], logdir: Path, name: str):
    return spawn(cmd, bench_env(), logdir / f"celery-{name}.log")


def run_sync(*, changes: int, logdir: Path, operator, timeout: float = 180.0) -> dict:
    import redis
    from django.db import connection

    from audit.models import Origin
    from audit.services import AuditContext
    from phones import services, sync
    from phones.models import Phone, SyncJob, SyncJobStatus

    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    sim = spawn(
        [PY, "manage.py", "run_provider_simulator", "--port", str(SIM_PORT)],
        bench_env(),
        logdir / "simulator.log",
    )
    product_workers = reference_workers = None
    result: dict = {}
    try:
        wait_port(SIM_PORT)
        http = httpx.Client(timeout=30)
        http.post(f"{SIM}/_sim/reset")
        ctx = AuditContext(origin=Origin.COMMAND, request_id="bench-sync")

        # --- product: N linked phones (new ones: a clean chain and no history) -------------
        base = 6_000_000_000 + int(time.time()) % 1_000_000 * 1000
        phones = [
            services.phone_create(
                actor=operator,
                context=ctx,
                account_id=base + i,
                number=f"7{i:08d}",
                type="MOBILE",
                area_code=11,
            )
            for i in range(changes)
        ]
        digits = [p.e164.lstrip("+") for p in phones]
        http.post(
            f"{SIM}/_sim/numbers",
            json={"numbers": [{"provider": "plivo", "number": d, "alias": "before"} for d in digits]},
        )
        for p in phones:
            sync.provider_link_set(
                actor=operator,
                context=ctx,
                account_id=p.account_id,
                phone_id=p.pk,
                provider="plivo",
                settings={"alias": "bench"},
            )
        r.flushdb()  # the link jobs' tasks: superseded by the burst below
        http.delete(f"{SIM}/_sim/requests")
        connection.close()

        product_workers = _workers(
            [PY, "-m", "celery", "-A", "backoffice", "worker", "-c", "2", "-P", "prefork", "-l", "WARNING", *QUIET],
            logdir,
            "product",
        )
        time.sleep(4)  # workers up and waiting

        committed: dict[int, float] = {}

        def change(p: Phone) -> None:
            services.phone_update(
                actor=operator, context=ctx, account_id=p.account_id, phone_id=p.pk, data={"extension": "42"}
            )
            committed[p.pk] = time.time()

        t0 = time.time()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(change, phones))
        t_commit = time.time() - t0
        ids = [p.pk for p in phones]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            open_ = (
                SyncJob.objects.filter(phone_id__in=ids, reason="phone_change")
                .exclude(status__in=[SyncJobStatus.SYNCED, SyncJobStatus.FAILED, SyncJobStatus.SUPERSEDED])
                .count()
            )
            if not open_:
                break
            time.sleep(0.25)
        jobs = list(
            SyncJob.objects.filter(phone_id__in=ids, reason="phone_change").values_list(
                "phone_id", "status", "finished_at"
            )
        )
        synced = [(pid, fin.timestamp()) for pid, status, fin in jobs if status == SyncJobStatus.SYNCED]
        failed = sum(1 for _, status, _ in jobs if status != SyncJobStatus.SYNCED)
        posts = _sim_post_times(http)
        by_digits = {p.pk: p.e164.lstrip("+") for p in phones}
        to_synced = [(fin - committed[pid]) * 1000 for pid, fin in synced if pid in committed]
        to_provider = [(posts[by_digits[pid]] - committed[pid]) * 1000 for pid in committed if by_digits[pid] in posts]
        first = min(committed.values())
        last = max((fin for _, fin in synced), default=first)
        result["product"] = {
            "changes": changes,
            "synced": len(synced),
            "not_synced": failed + (changes - len(jobs)),
            "commit_seconds": round(t_commit, 2),
            "changes_per_s": round(len(synced) / max(last - first, 1e-6), 1),
            "provider_p50_ms": _pct(to_provider, 0.5),
            "provider_p99_ms": _pct(to_provider, 0.99),
            "synced_p50_ms": _pct(to_synced, 0.5),
            "synced_p99_ms": _pct(to_synced, 0.99),
        }
        log(f"  product sync: {result['product']}")
        stop(product_workers)
        product_workers = None

        # --- reference: bare Celery task, shared httpx client ------------------------------
        ref_digits = [f"1555{i:07d}" for i in range(changes)]
        http.post(
            f"{SIM}/_sim/numbers",
            json={"numbers": [{"provider": "plivo", "number": d, "alias": "before"} for d in ref_digits]},
        )
        http.delete(f"{SIM}/_sim/requests")
        from bench.reference.celery_app import DONE_KEY, push

        r.delete(DONE_KEY)
        reference_workers = _workers(
            [PY, "-m", "celery", "-A", "bench.reference.celery_app", "worker", "-c", "2", "-P", "prefork", *REF_ARGS],
            logdir,
            "reference",
        )
        time.sleep(4)
        ref_committed: dict[str, float] = {}
        for d in ref_digits:
            ref_committed[d] = time.time()
            push.apply_async((d, {"alias": "bench"}, ref_committed[d]))
        deadline = time.monotonic() + timeout
        while r.llen(DONE_KEY) < changes and time.monotonic() < deadline:
            time.sleep(0.1)
        done = [line.decode().split() for line in r.lrange(DONE_KEY, 0, -1)]
        done_at = {d: float(t) for d, _, t in done}
        posts = _sim_post_times(http)
        to_done = [(done_at[d] - ref_committed[d]) * 1000 for d in done_at]
        to_provider = [(posts[d] - ref_committed[d]) * 1000 for d in ref_committed if d in posts]
        first = min(ref_committed.values())
        last = max(done_at.values(), default=first)
        result["reference"] = {
            "changes": changes,
            "synced": len(done_at),
            "changes_per_s": round(len(done_at) / max(last - first, 1e-6), 1),
            "provider_p50_ms": _pct(to_provider, 0.5),
            "provider_p99_ms": _pct(to_provider, 0.99),
            "synced_p50_ms": _pct(to_done, 0.5),
            "synced_p99_ms": _pct(to_done, 0.99),
        }
        log(f"  reference sync: {result['reference']}")
    finally:
        stop(product_workers)
        stop(reference_workers)
        stop(sim)
    return result
