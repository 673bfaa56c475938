#!/usr/bin/env python3
"""The two set-up commands: ``python3 dev.py run`` and ``python3 dev.py test``.

Needs nothing but Python 3.11: it makes ``.venv``, installs the pinned requirements (again only
when they change), and then runs the product or the test suite.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
LOCAL_PG = "postgres://postgres@127.0.0.1:5432/phones"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def sh(*cmd: str | Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    return subprocess.run([str(part) for part in cmd], cwd=ROOT, env=env, check=check).returncode


def ensure_venv(requirements: str) -> None:
    if not PY.exists():
        print(f"-> creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    req = ROOT / requirements
    digest = hashlib.sha256(req.read_bytes() + (ROOT / "requirements.txt").read_bytes()).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"-> installing {requirements}")
    sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", req)
    stamp.write_text(digest)


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def run() -> int:
    ensure_venv("requirements.txt")
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    # The settings default to production (DEBUG off); the local run says what it is: development,
    # talking to the provider simulator (its credentials, callbacks to the loopback web server).
    env.setdefault("DEBUG", "true")
    env.setdefault("PROVIDER_SIMULATOR", "true")
    # The demo operators sign in with a password alone (docs/backoffice.md: how to try MFA locally).
    env.setdefault("MFA_REQUIRED_PERMISSIONS", "")
    (ROOT / "var").mkdir(exist_ok=True)
    sh(PY, "manage.py", "migrate", "--no-input", "-v", "0", env=env)
    sh(PY, "manage.py", "seed_demo", env=env)
    port = env.get("PORT", "8000")
    print(f"\n   Backoffice:  http://127.0.0.1:{port}/admin/")
    print(f"   API docs:    http://127.0.0.1:{port}/api/docs/")
    print("   Ctrl-C (or closing the terminal) stops everything.\n")
    env["PORT"] = port
    return supervise([BIN / "honcho", "start", "-f", "Procfile.dev"], env=env)


# Signals that stop ``dev.py run``: Ctrl-C, the terminal closing (SIGHUP), ``kill``.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGHUP", "SIGTERM") if hasattr(signal, name))


def supervise(cmd: Sequence[str | Path], env: dict[str, str] | None = None, grace: float = 10.0) -> int:
    """Run ``cmd`` (honcho and its Procfile) until it ends or dev.py is told to stop, and then stop
    every process it started.

    honcho starts each Procfile process in a session of its own, out of the terminal's reach, and
    stops them only on SIGINT and SIGTERM: a closed terminal (SIGHUP) used to kill honcho alone and
    leave the web app, worker, beat and simulator running. So ``cmd`` runs in a session of its own
    too, and on SIGINT, SIGHUP or SIGTERM dev.py stops the whole tree itself: Ctrl-C is handed to
    honcho (which says what it stops), the others send SIGTERM to honcho's process group and to
    every process group under it; whatever is still alive ``grace`` seconds later is killed.
    Returns honcho's exit code, 0 after Ctrl-C, 128 + the signal after SIGHUP or SIGTERM.
    """
    if os.name == "nt":  # no process groups or SIGHUP: honcho handles Ctrl-C itself
        try:
            return sh(*cmd, env=env, check=False)
        except KeyboardInterrupt:
            return 0
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum)) for sig in STOP_SIGNALS}
    try:
        proc = subprocess.Popen([str(part) for part in cmd], cwd=ROOT, env=env, start_new_session=True)
        while proc.poll() is None and not received:
            time.sleep(0.1)
        if not received:
            return proc.returncode
        _stop_tree(proc, received[0], grace)
        return 0 if received[0] == signal.SIGINT else 128 + received[0]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_tree(proc: subprocess.Popen[bytes], signum: int, grace: float) -> None:
    """Stop ``proc`` (a session leader) and every process under it; kill what outlives ``grace``."""
    tree = _descendants(proc.pid)  # taken first: once honcho is gone its children are orphans
    groups = {proc.pid, *tree.values()}
    if signum == signal.SIGINT:
        _signal_group(proc.pid, signal.SIGINT, leader_only=True)
    else:
        for group in groups:
            _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (proc.poll() is None or any(map(_alive, tree))):
        time.sleep(0.1)
    # Only the groups still holding one of ours: a finished group's id may belong to another.
    left = {tree[pid] for pid in tree if _alive(pid)} | ({proc.pid} if proc.poll() is None else set())
    for group in left:
        _signal_group(group, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: int, *, leader_only: bool = False) -> None:
    try:
        if leader_only:
            os.kill(pgid, sig)
        else:
            os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _alive(pid: int) -> bool:
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _descendants(root: int) -> dict[int, int]:
    """Every live process under ``root``: pid -> its process group (Linux's /proc; elsewhere
    nothing, and honcho alone stops its processes)."""
    children: dict[int, list[int]] = {}
    groups: dict[int, int] = {}
    proc_dir = Path("/proc")
    for entry in proc_dir.iterdir() if proc_dir.is_dir() else ():
        if entry.name.isdigit() and (fields := _proc_stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            groups[int(entry.name)] = int(fields[2])
    found: dict[int, int] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = groups[pid]
            todo.extend(children.get(pid, ()))
    return found


def test(args: list[str]) -> int:
    ensure_venv("requirements-dev.txt")
    env = dict(os.environ)
    ci = env.get("CI", "").lower() == "true"
    # CI always uses the real services; locally they are used when they answer.
    if "DATABASE_URL" not in env and (ci or reachable("127.0.0.1", 5432)):
        env["DATABASE_URL"] = LOCAL_PG
    if "REDIS_URL" not in env and (ci or reachable("127.0.0.1", 6379)):
        env["REDIS_URL"] = LOCAL_REDIS
    print(f"-> database: {env.get('DATABASE_URL', 'SQLite (PostgreSQL-only tests will be skipped)')}")
    print(f"-> redis:    {env.get('REDIS_URL', 'none (Redis tests will be skipped)')}")
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        print("-> Chromium not found: browser tests will be skipped (apt-get install -y chromium)")
    return sh(PY, "-m", "pytest", *args, env=env, check=False)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    if sys.argv[1] == "run":
        return run()
    return test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
