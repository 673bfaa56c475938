"""The bench harness's own plumbing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_harness_stopped_by_a_signal_stops_what_it_started(tmp_path, sig):
    # Its workers run in sessions of their own: only the harness's `finally` stops them. Killed
    # by SIGTERM before, it left them running, and they took the next run's messages.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from bench.common import spawn, stop, stop_on_termination
        stop_on_termination()
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        child = spawn(sleeper, {{}}, Path({str(tmp_path)!r}) / "child.log")
        Path({str(tmp_path)!r}, "child.pid").write_text(str(child.pid))
        try:
            time.sleep(60)
        finally:
            stop(child)
        """
    )
    harness = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    harness.send_signal(sig)
    harness.wait(timeout=20)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists(), "the harness's child outlived it"
