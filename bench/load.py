"""Loopback HTTP load with wrk (C, keep-alive) and a Lua script; the same for product and reference."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from bench.common import BENCH, log

LUA = BENCH / "lua" / "api.lua"


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    *,
    port: int,
    mode: str,
    prefix: str,
    token: str | None,
    run: int,
    fixture: Path | None,
    concurrency: int,
    duration: float,
    threads: int = 2,
    label: str = "",
) -> dict:
    """One wrk run; returns requests/s, p50/p99 (ms), error count and the raw summary."""
    cmd = [
        "wrk",
        f"-t{min(threads, concurrency)}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        mode,
        prefix,
        token or "-",
        str(run),
        str(fixture) if fixture else "-",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=duration + 60)
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    raw = json.loads(line)
    errors = sum(raw["errors"].values())
    seconds = raw["duration_us"] / 1e6
    result = {
        "mode": mode,
        "concurrency": concurrency,
        "seconds": round(seconds, 2),
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "errors": errors,
        "error_detail": raw["errors"],
    }
    if errors and out.stderr.strip():
        result["first_error"] = out.stderr.strip().splitlines()[0][:300]
    log(
        f"  {label:<9} {mode:<5} c{concurrency:<3} {result['rps']:>8.1f} req/s  p50 {result['p50_ms']:>7.2f} ms"
        f"  p99 {result['p99_ms']:>7.2f} ms  errors {errors}"
    )
    return result
