"""``make bench``: the product against the bare stack and the database's own limit.

Phases (each side by side with its reference, in one run):
  1. API writes (POST, PATCH) at concurrency 8 and 32 vs a minimal DRF endpoint and pgbench
  2. API reads (list an account's phones, get one phone) vs a minimal DRF endpoint
  3. Admin pages at scale (1M phones, 2M audit entries): server time and query count
  4. Provider sync (burst, and latency at 100 changes/s): outbox pipeline vs a bare Celery task
  5. Memory: web worker peak RSS after the API runs; CSV export of every phone

Prints one table and writes it as JSON to bench/results/<timestamp>.json and latest.json.
``--quick``: a few seconds per phase on 50k phones (its own database), for development.
``--baseline DIR``: the API phases against the product of another checkout (before/after of a change).

This module is the harness's driver (arguments, phases, the table); the phases themselves live in
``load``, ``loader``, ``admin_probe``, ``sync_bench`` and ``export_probe``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from bench import common
from bench.common import (
    BENCH_DB,
    PRODUCT_PORT,
    PY,
    REFERENCE_PORT,
    RESULTS,
    ROOT,
    bench_env,
    gunicorn,
    log,
    psql,
    stop_on_termination,
)

PRODUCT_PREFIX = "/accounts/v1/accounts"
REFERENCE_PREFIX = "/ref/accounts"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: few seconds per phase, 50k phones")
    parser.add_argument("--fresh", action="store_true", help="drop and reload the bench database")
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of load per side and API figure, as two runs of half (default 20, quick 3)",
    )
    parser.add_argument("--phones", type=int, help="phones to load (default 1,000,000, quick 50,000)")
    parser.add_argument("--sync-changes", type=int, help="changes in the sync burst (default 1000, quick 200)")
    parser.add_argument(
        "--only",
        default="writes,reads,admin,export,sync",
        help="comma-separated phases to run (writes, reads, admin, export, sync)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="A/B of two versions of the product: the API's reference side becomes the product of the "
        "checkout at this path (e.g. a `git worktree` of the commit before a change), same database and load",
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 20.0)
    args.phones = args.phones or (50_000 if args.quick else 1_000_000)
    args.sync_changes = args.sync_changes or (200 if args.quick else 1000)
    args.only = set(args.only.split(","))
    return args


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


def prepare_database(args: argparse.Namespace) -> dict:
    t0 = time.monotonic()
    common.ensure_database(fresh=args.fresh)
    phones = int(psql("SELECT count(*) FROM phones_phone", BENCH_DB) or 0)
    audits = int(psql("SELECT count(*) FROM audit_auditentry", BENCH_DB) or 0)
    if phones < args.phones or audits < 2 * args.phones:
        if phones:
            log(f"{BENCH_DB} holds {phones:,} phones, fewer than {args.phones:,}: reloading")
            psql(f"DROP DATABASE {BENCH_DB} WITH (FORCE)")
            common.ensure_database(fresh=False)
        log(f"loading {args.phones:,} phones and {2 * args.phones:,} audit entries into {BENCH_DB}")
        subprocess.run([PY, "-m", "bench.loader", "--phones", str(args.phones)], cwd=ROOT, env=bench_env(), check=True)
    else:
        log(f"{BENCH_DB} already holds {phones:,} phones and {audits:,} audit entries: reused (--fresh reloads)")
    # This machine's PostgreSQL runs with autovacuum off: dead rows of earlier runs would slow
    # whichever side runs later, so the harness vacuums and analyzes before measuring.
    t1 = time.monotonic()
    psql("VACUUM (ANALYZE)", BENCH_DB)
    log(f"VACUUM (ANALYZE) of {BENCH_DB}: {time.monotonic() - t1:.1f}s")
    return {"seconds": round(time.monotonic() - t0, 1)}


def setup_django() -> None:
    os.environ.update(bench_env())
    import django

    django.setup()


def bench_operator():
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import RefreshToken

    from backoffice.models import User

    email = "bench-api@example.com"
    call_command("create_operator", email, "--role", "backoffice-operator", stdout=open(os.devnull, "w"))  # noqa: SIM115
    user = User.objects.get(email=email)
    return user, str(RefreshToken.for_user(user).access_token)


def write_fixtures(logdir: Path, phones: int) -> dict[str, Path]:
    """Random active loaded phones as "account_id phone_id" lines; disjoint sets per server."""
    rows = psql(
        f"SELECT account_id || ' ' || id FROM phones_phone WHERE active AND id <= {phones} "
        "ORDER BY random() LIMIT 100000",
        BENCH_DB,
    ).splitlines()
    half = len(rows) // 2
    files = {"product": logdir / "pairs-product.txt", "reference": logdir / "pairs-reference.txt"}
    files["product"].write_text("\n".join(rows[:half]) + "\n")
    files["reference"].write_text("\n".join(rows[half:]) + "\n")
    return files


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------


def workers_rss(master_pid: int) -> dict:
    peaks = [common.proc_status_kb(pid, "VmHWM") or 0 for pid in common.children(master_pid)]
    return {"workers": len(peaks), "peak_rss_mb": round(max(peaks, default=0) / 1024, 1)}


GIN_CLEAN = (
    "SELECT gin_clean_pending_list(c.oid::regclass) FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
    "WHERE a.amname = 'gin' AND c.relkind = 'i'"
)


def api_runs(args, logdir: Path, token: str, fixtures: dict[str, Path]) -> dict:
    from bench.load import run_wrk

    base_run = (int(time.time()) % 10_000_000) * 10
    out: dict = {"product": {}, "reference": {}, "memory": {}}
    servers = [
        ("product", "backoffice.wsgi:application", PRODUCT_PORT, PRODUCT_PREFIX, token, bench_env()),
        (
            "reference",
            "bench.reference.wsgi:application",
            REFERENCE_PORT,
            REFERENCE_PREFIX,
            None,
            bench_env(DJANGO_SETTINGS_MODULE="bench.reference.settings"),
        ),
    ]
    if args.baseline is not None:
        # Product against product: this checkout and the one at ``--baseline``, side by side.
        baseline = args.baseline.resolve()
        log(f"API: the reference side is the product of the baseline checkout {baseline}")
        servers[1] = (
            "reference",
            "backoffice.wsgi:application",
            REFERENCE_PORT,
            PRODUCT_PREFIX,
            token,
            bench_env(PYTHONPATH=str(baseline)),
        )
    cwd = {"reference": args.baseline.resolve() if args.baseline else ROOT}
    modes = []
    if "writes" in args.only:
        modes += ["post", "patch"]
    if "reads" in args.only:
        modes += ["list", "get"]
    # Both servers run side by side and every measurement alternates between them (product first,
    # then reference first at the next step), so that drift over the run (checkpoints, autovacuum
    # after the writes, the page cache) does not fall on one side only.
    with ExitStack() as stack:
        for name, wsgi, port, _prefix, _tok, env in servers:
            log(f"API: {name} (gunicorn {wsgi}, {env.get('BENCH_WORKERS', '2')} workers) on port {port}")
        masters = {
            name: stack.enter_context(gunicorn(name, wsgi, port, env, logdir, cwd=cwd.get(name, ROOT)))
            for name, wsgi, port, *_, env in servers
        }
        step = 0
        for m, mode in enumerate(modes):
            for k, (name, _wsgi, port, prefix, tok, _env) in enumerate(servers):
                # Warm-up: imports, connections, caches (not measured).
                run_wrk(
                    port=port,
                    mode=mode,
                    prefix=prefix,
                    token=tok,
                    run=base_run + 8 + k,
                    fixture=None if mode == "post" else fixtures[name],
                    concurrency=8,
                    duration=2 if not args.quick else 1,
                    label=f"{name} warm",
                )
            for c, concurrency in enumerate((8, 32)):
                # Each side runs twice, in the order A B B A (B A A B at the next step), half the
                # duration each: drift within a step and the position in it fall on both sides.
                pair = list(enumerate(servers)) if step % 2 == 0 else list(reversed(list(enumerate(servers))))
                step += 1
                halves: dict[str, list[dict]] = {name: [] for name, *_ in servers}
                for k, (name, _wsgi, port, prefix, tok, _env) in [*pair, *reversed(pair)]:
                    if mode in ("post", "patch"):
                        # Each write run starts from the same state: the trigram indexes' pending
                        # lists merged (autovacuum would do it in the background; it is off here, so
                        # the insert that crosses gin_pending_list_limit pays a multi-MB merge) and a
                        # checkpoint taken, so neither side pays for the run before it.
                        psql(GIN_CLEAN, BENCH_DB)
                        psql("CHECKPOINT", BENCH_DB)
                    h = len(halves[name])
                    if mode == "post":
                        run = base_run + (k * 2 + c) * 2 + h
                    else:
                        run = (base_run + (((k * 4 + m) * 2 + c) * 2 + h)) % 100
                    halves[name].append(
                        run_wrk(
                            port=port,
                            mode=mode,
                            prefix=prefix,
                            token=tok,
                            run=run,
                            fixture=None if mode == "post" else fixtures[name],
                            concurrency=concurrency,
                            duration=args.duration / 2,
                            label=name,
                        )
                    )
                for name, results in halves.items():
                    out[name][f"{mode}_c{concurrency}"] = combine_halves(results)
        for name, master in masters.items():
            out["memory"][name] = workers_rss(master.pid)
            log(f"  {name} workers peak RSS: {out['memory'][name]}")
    return out


def combine_halves(results: list[dict]) -> dict:
    """One figure from a side's two runs: requests/s over their summed time, latency percentiles
    averaged (wrk reports percentiles, not its histogram), errors summed."""
    seconds = sum(r["seconds"] for r in results)
    requests = sum(r["requests"] for r in results)
    combined = {
        "mode": results[0]["mode"],
        "concurrency": results[0]["concurrency"],
        "seconds": round(seconds, 2),
        "requests": requests,
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "errors": sum(r["errors"] for r in results),
        "max_ms": max(r["max_ms"] for r in results),
        "runs": results,
    }
    for key in ("p50_ms", "p90_ms", "p99_ms"):
        combined[key] = round(sum(r[key] for r in results) / len(results), 2)
    return combined


def pgbench_run(args) -> dict:
    script = common.BENCH / "pgbench" / "create.sql"
    cmd = ["pgbench", "-h", common.PG_HOST, "-p", str(common.PG_PORT), "-U", common.PG_USER, "-n"]
    cmd += [
        "-M",
        "prepared",
        "-c",
        "8",
        "-j",
        "2",
        "-T",
        str(max(1, round(args.duration))),
        "-f",
        str(script),
        BENCH_DB,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    tps = re.search(r"tps = ([\d.]+) \(without initial", out.stdout)
    lat = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if not tps:
        raise RuntimeError(f"pgbench failed: {out.stderr.strip()[-500:]}")
    result = {
        "clients": 8,
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(lat.group(1)) if lat else None,
        "failed": int(failed.group(1)) if failed else 0,
    }
    log(f"pgbench (8 clients, prepared): {result['tps']:.0f} tps, latency avg {result['latency_avg_ms']} ms")
    return result


def export_run() -> dict:
    out = subprocess.run(
        [PY, "-m", "bench.export_probe"], cwd=ROOT, env=bench_env(), capture_output=True, text=True, check=False
    )
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        return {"status": "error", "error": out.stderr.strip()[-500:]}
    result = json.loads(line)
    log(f"CSV export: {result}")
    return result


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


def _row(figure, product, reference, ratio, target, ok) -> dict:
    return {
        "figure": figure,
        "product": product,
        "reference": reference,
        "ratio": ratio,
        "target": target,
        "pass": ok,
    }


def _latency_rows(side: dict, reference: dict, limits: dict[str, float | None]) -> list[dict]:
    """commit -> provider p50/p99 of a paced sync phase against the bare task's at the same rate;
    a ratio target where ``limits`` gives one."""
    rate = f"{side['commits_per_s']:.0f}/s"
    rows = []
    for q, limit in limits.items():
        p_ms, r_ms = side[f"provider_{q}_ms"], reference.get(f"provider_{q}_ms")
        ratio = p_ms / r_ms if p_ms is not None and r_ms else None
        rows.append(
            _row(
                f"sync at {rate} commit->provider {q} ms",
                p_ms,
                r_ms if r_ms is not None else "-",
                f"{ratio:.2f}x" if ratio is not None else "-",
                f"<= {limit:.2f}x" if limit is not None else "-",
                ratio <= limit if ratio is not None and limit is not None else None,
            )
        )
    return rows


def machine_load(cpu_ms_per_change: float, changes_per_s: float, cores: int) -> float:
    """The share of ``cores`` (percent) that ``cpu_ms_per_change`` of machine CPU takes at
    ``changes_per_s``."""
    return round(cpu_ms_per_change * changes_per_s / (10 * cores), 1)


def build_rows(res: dict) -> list[dict]:
    rows: list[dict] = []
    api = res.get("api") or {}
    pg = res.get("pgbench")
    prod, ref = api.get("product", {}), api.get("reference", {})
    for key in [
        k for k in ("post_c8", "post_c32", "patch_c8", "patch_c32", "list_c8", "list_c32", "get_c8", "get_c32")
    ]:
        p, r = prod.get(key), ref.get(key)
        if not p or not r:
            continue
        label = {"post": "POST phones", "patch": "PATCH phone", "list": "GET list", "get": "GET phone"}[
            key.split("_")[0]
        ] + f" c{key.split('_c')[1]}"
        # Against the reference endpoint the product must be at least as fast; against the product
        # of a baseline checkout (--baseline) a change may cost at most 10 %.
        floor, ceiling = (0.90, 1.10) if res.get("baseline") else (1.0, 1.1)
        rr = p["rps"] / r["rps"] if r["rps"] else 0
        rows.append(_row(f"{label} req/s", p["rps"], r["rps"], f"{rr:.2f}x", f">= {floor:.2f}x", rr >= floor))
        pr = p["p99_ms"] / r["p99_ms"] if r["p99_ms"] else 0
        rows.append(
            _row(f"{label} p99 ms", p["p99_ms"], r["p99_ms"], f"{pr:.2f}x", f"<= {ceiling:.2f}x", pr <= ceiling)
        )
        rows.append(
            _row(f"{label} p50 ms", p["p50_ms"], r["p50_ms"], f"{p['p50_ms'] / max(r['p50_ms'], 1e-9):.2f}x", "-", None)
        )
        rows.append(_row(f"{label} errors", p["errors"], r["errors"], "-", "0", p["errors"] == 0 and r["errors"] == 0))
        if pg and key.startswith("post"):
            share = p["rps"] / pg["tps"]
            rows.append(_row(f"{label} vs pgbench", p["rps"], pg["tps"], f"{share:.1%}", ">= 12%", share >= 0.12))
    if pg and ref.get("post_c8"):
        share = ref["post_c8"]["rps"] / pg["tps"]
        rows.append(
            _row("(minimal DRF POST c8 vs pgbench)", ref["post_c8"]["rps"], pg["tps"], f"{share:.1%}", "-", None)
        )
    for page in res.get("admin") or []:
        if page["status"] != "ok":
            rows.append(_row(page["name"], page["status"], "-", "-", "< 150 ms", None))
            continue
        rows.append(
            _row(
                page["name"] + " ms",
                f"{page['median_ms']} ({page['queries']} q)",
                "-",
                "-",
                "< 150 ms",
                page["median_ms"] < 150,
            )
        )
    sync = res.get("sync") or {}
    if sync.get("product") and sync.get("reference"):
        p, r = sync["product"], sync["reference"]
        c = sync.get("product_concurrent") or {}
        ratio = p["changes_per_s"] / r["changes_per_s"] if r["changes_per_s"] else 0
        rows.append(
            _row(
                "sync changes/s (burst)",
                p["changes_per_s"],
                r["changes_per_s"],
                f"{ratio:.2f}x",
                ">= 0.80x",
                ratio >= 0.8,
            )
        )
        rows.append(
            _row("sync burst commit->provider p50 ms", p["provider_p50_ms"], r["provider_p50_ms"], "-", "-", None)
        )
        rows.append(_row("sync burst commit->synced p99 ms", p["synced_p99_ms"], r["synced_p99_ms"], "-", "-", None))
        paced = sync.get("product_paced") or {}
        ref_paced = sync.get("reference_paced") or {}
        if paced:
            # Against the bare task enqueued at the same rate in the same run: a slower machine
            # slows both sides, so the targets are ratios, not milliseconds.
            rows += _latency_rows(paced, ref_paced, {"p50": 1.5, "p99": 2.0})
            p_cpu, r_cpu = paced.get("cpu_ms_per_change"), ref_paced.get("cpu_ms_per_change")
            if p_cpu is not None:
                # What saturates a small machine at that rate (all processes, both sides alike).
                rows.append(
                    _row(
                        f"sync at {paced['commits_per_s']:.0f}/s machine CPU ms/change",
                        p_cpu,
                        r_cpu if r_cpu is not None else "-",
                        f"{p_cpu / r_cpu:.2f}x" if r_cpu else "-",
                        "-",
                        None,
                    )
                )
                cores = sync.get("cores")
                if cores:
                    # The share of the machine that CPU takes at the rate: near all of it, a side
                    # falls behind and its latency is a queue's (the jobs claimed alone fall), so on
                    # a host where the reference alone takes most of it, the ratios above compare a
                    # queue with a path rather than the two paths.
                    rows.append(
                        _row(
                            f"sync at {paced['commits_per_s']:.0f}/s machine load %",
                            machine_load(p_cpu, paced["commits_per_s"], cores),
                            machine_load(r_cpu, ref_paced["commits_per_s"], cores) if r_cpu is not None else "-",
                            "-",
                            "-",
                            None,
                        )
                    )
            alone = paced.get("claimed_alone_pct")
            if alone is not None:
                # Whether the workers kept up (jobs claimed one at a time) or a backlog built up
                # that batches drained: the latency rows are a different regime in each.
                rows.append(
                    _row(f"sync at {paced['commits_per_s']:.0f}/s jobs claimed alone %", alone, "-", "-", "-", None)
                )
        half, ref_half = sync.get("product_half") or {}, sync.get("reference_half") or {}
        if half:
            # Half the rate, no target: the same path where the host carries the load.
            rows += _latency_rows(half, ref_half, {"p50": None, "p99": None})
        if c:
            rate = f"{c.get('commits_per_s', c['changes_per_s']):.0f}/s"
            rows.append(_row(f"sync max committers ({rate}) p50 ms", c["provider_p50_ms"], "-", "-", "-", None))
            rows.append(_row(f"sync max committers ({rate}) p99 ms", c["provider_p99_ms"], "-", "-", "-", None))
        missing = p["not_synced"] + c.get("not_synced", 0) + paced.get("not_synced", 0) + half.get("not_synced", 0)
        ref_missing = sum(side.get("changes", 0) - side.get("synced", 0) for side in (r, ref_paced, ref_half))
        rows.append(_row("sync not synced", missing, ref_missing, "-", "0", missing == 0))
    elif "sync" in res:
        rows.append(_row("provider sync", sync.get("status", "not available"), "-", "-", "-", None))
    mem = api.get("memory") or {}
    if mem.get("product"):
        p, r = mem["product"]["peak_rss_mb"], (mem.get("reference") or {}).get("peak_rss_mb")
        rows.append(_row("web worker peak RSS MB", p, r or "-", f"{p / r:.2f}x" if r else "-", "-", None))
    exp = res.get("export")
    if exp:
        if exp.get("status") == "ok":
            growth = exp["peak_rss_mb"] - exp["rss_start_mb"]
            rows.append(
                _row(
                    f"CSV export {exp['rows']:,} rows peak RSS MB",
                    exp["peak_rss_mb"],
                    f"start {exp['rss_start_mb']}",
                    f"+{growth:.0f} MB",
                    "flat (< +64 MB)",
                    growth < 64,
                )
            )
            rows.append(_row("CSV export rows/s", exp["rows_per_s"], "-", "-", "-", None))
        else:
            rows.append(_row("CSV export", exp.get("status"), "-", "-", "flat", None))
    return rows


def render_table(rows: list[dict]) -> str:
    headers = ["figure", "product", "reference", "ratio", "target", "pass"]

    def cell(value) -> str:
        if value is None:
            return "-"
        if value is True:
            return "PASS"
        if value is False:
            return "FAIL"
        if isinstance(value, float):
            return f"{value:,.1f}"
        return str(value)

    grid = [[cell(row[h]) for h in headers] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in grid)) if grid else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in grid:
        lines.append(
            "  ".join(
                v.rjust(w) if i in (1, 2, 3) else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_termination()
    started = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logdir = ROOT / "var" / "bench" / stamp
    logdir.mkdir(parents=True, exist_ok=True)
    from bench.load import have_wrk

    if not have_wrk():
        print("wrk is required (apt-get install -y wrk)", file=sys.stderr)
        return 2
    res: dict = {
        "started": stamp,
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "config": {
            "database": BENCH_DB,
            "phones": args.phones,
            "duration_s": args.duration,
            "gunicorn": {
                "workers": int(os.environ.get("BENCH_WORKERS", "2")),
                "worker_class": os.environ.get("BENCH_WORKER_CLASS", "gthread"),
                "threads": int(os.environ.get("BENCH_THREADS", "4")),
            },
            "load": "wrk -t2, keep-alive, bench/lua/api.lua",
        },
    }
    log(f"bench database {BENCH_DB}; logs in {logdir}")
    res["load"] = prepare_database(args)
    setup_django()
    user, token = bench_operator()
    fixtures = write_fixtures(logdir, args.phones)

    if args.only & {"writes", "reads"}:
        res["baseline"] = str(args.baseline) if args.baseline else None
        res["api"] = api_runs(args, logdir, token, fixtures)
    if "writes" in args.only:
        res["pgbench"] = pgbench_run(args)
    if "admin" in args.only:
        from bench.admin_probe import admin_pages

        log("admin pages (in-process, median of runs)")
        res["admin"] = admin_pages(user=user, repeat=3 if args.quick else 7)
        for page in res["admin"]:
            log(f"  {page['name']}: {page.get('median_ms', page['status'])} ms, {page.get('queries')} queries")
    if "export" in args.only:
        log("CSV export of every phone (own process)")
        res["export"] = export_run()
    if "sync" in args.only:
        log(f"provider sync: burst of {args.sync_changes} changes, 2 worker processes each")
        try:
            from bench.sync_bench import run_sync

            res["sync"] = run_sync(changes=args.sync_changes, logdir=logdir, operator=user)
        except Exception as exc:  # the pipeline is being built concurrently
            log(f"  provider sync not available: {exc!r}")
            res["sync"] = {"status": "not available", "error": repr(exc)[:500]}
    res["seconds"] = round(time.time() - started, 1)
    rows = build_rows(res)
    res["table"] = rows
    table = render_table(rows)
    print(table)
    print(
        f"\n{sum(1 for r in rows if r['pass'] is True)} pass, {sum(1 for r in rows if r['pass'] is False)} fail; "
        f"{res['seconds']:.0f} s; logs {logdir}"
    )
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(res, indent=2, default=str)
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return 0
