"""Shared plumbing of the benchmark: environment, processes, the bench database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
PY = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
BENCH_DB = os.environ.get("BENCH_DB", "phones_bench")
DATABASE_URL = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{BENCH_DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SIM_PORT = int(os.environ.get("BENCH_SIM_PORT", "18765"))
PRODUCT_PORT = int(os.environ.get("BENCH_PRODUCT_PORT", "18001"))
REFERENCE_PORT = int(os.environ.get("BENCH_REFERENCE_PORT", "18002"))


def bench_env(**extra: str) -> dict[str, str]:
    """The production-like environment every benchmarked process runs with."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "backoffice.settings",
            "DATABASE_URL": DATABASE_URL,
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
            "AUDIT_HMAC_KEY": "bench-audit-key-not-for-production-0123456789abcdefghijklmnop",
            # The benchmark's providers are the simulator (production settings refuse its
            # credentials otherwise).
            "PROVIDER_SIMULATOR": "true",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            # Loopback behind an imaginary TLS proxy: no HTTPS redirect.
            "SECURE_SSL_REDIRECT": "false",
            "CONN_MAX_AGE": "600",
            "REDIS_URL": REDIS_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "LOG_LEVEL": "WARNING",
            "SINCH_NUMBERS_BASE_URL": f"http://127.0.0.1:{SIM_PORT}",
            "PLIVO_BASE_URL": f"http://127.0.0.1:{SIM_PORT}",
            "JWT_ACCESS_MINUTES": "240",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def psql(sql: str, db: str = "postgres", *, check: bool = True) -> str:
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", db, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and out.returncode:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop one process we started (by its own pid / process group)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy since boot (``/proc/stat``: user, nice, system,
    irq, softirq, steal; not idle or iowait), in seconds: read before and after a phase, what
    all its processes (committers, workers, PostgreSQL, Redis, the simulator) used together."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _default_stop_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def stop_on_termination() -> None:
    """The harness, stopped by SIGTERM or SIGHUP (``kill``, a closed terminal), still stops what it
    started: the signal raises ``KeyboardInterrupt`` as Ctrl-C does, so every ``finally`` runs.
    Without it the Celery workers it had started (each in a session of its own) outlived it and
    took the next run's messages from the shared bench broker, on the wrong database.

    Processes it forks (the committers' pools) get the default back as they start, so a signal
    ends them at once, whatever they are blocked in: with the harness's handler inherited, a
    pool's ``terminate()`` (its ``with`` block's end) once waited forever on a child that sat
    in the pool's queue lock."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    os.register_at_fork(after_in_child=_default_stop_signals)


def spawn(cmd: list[str], env: dict[str, str], logfile: Path, *, cwd: Path = ROOT) -> subprocess.Popen:
    logfile.parent.mkdir(parents=True, exist_ok=True)
    handle = logfile.open("ab")
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@contextlib.contextmanager
def gunicorn(
    name: str, wsgi: str, port: int, env: dict[str, str], logdir: Path, *, cwd: Path = ROOT
) -> Iterator[subprocess.Popen]:
    """The production server set-up, identical for the product and the reference."""
    cmd = [
        str(VENV_BIN / "gunicorn"),
        wsgi,
        "-c",
        str(BENCH / "gunicorn_conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
    ]
    proc = spawn(cmd, env, logdir / f"gunicorn-{name}.log", cwd=cwd)
    try:
        wait_port(port)
        # All workers booted (each imports Django) before load starts.
        deadline = time.monotonic() + 30
        want = int(env.get("BENCH_WORKERS", "2"))
        while len(children(proc.pid)) < want and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        yield proc
    finally:
        stop(proc)


def ensure_database(*, fresh: bool) -> None:
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{BENCH_DB}'") == "1"
    if exists and fresh:
        psql(f"DROP DATABASE {BENCH_DB} WITH (FORCE)")
        exists = False
    if not exists:
        psql(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([PY, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=bench_env(), check=True)
