#!/usr/bin/env python3
"""The two set-up commands: ``python3 dev.py run`` and ``python3 dev.py test``.

Needs nothing but Python 3.11: it makes ``.venv``, installs the pinned requirements (again only
when they change), and then runs the product or the test suite.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
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
    (ROOT / "var").mkdir(exist_ok=True)
    sh(PY, "manage.py", "migrate", "--no-input", "-v", "0", env=env)
    sh(PY, "manage.py", "seed_demo", env=env)
    port = env.get("PORT", "8000")
    print(f"\n   Backoffice:  http://127.0.0.1:{port}/admin/")
    print(f"   API docs:    http://127.0.0.1:{port}/api/docs/")
    print("   Ctrl-C stops everything.\n")
    env["PORT"] = port
    try:
        return sh(BIN / "honcho", "start", "-f", "Procfile.dev", env=env, check=False)
    except KeyboardInterrupt:
        return 0


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
