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


def test_processes_the_harness_forks_end_on_a_signal_by_default():
    # The committers' pools are forked from the harness: with its handler inherited, a pool's
    # terminate() once waited forever on a child blocked in the pool's queue lock.
    script = textwrap.dedent(
        """
        import multiprocessing, signal
        from bench.common import stop_on_termination
        stop_on_termination()

        def handlers(_):
            return [signal.getsignal(sig) == signal.SIG_DFL for sig in (signal.SIGTERM, signal.SIGHUP)]

        with multiprocessing.get_context("fork").Pool(2) as pool:
            print(pool.map(handlers, [0, 1]))
        print(handlers(0))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")
    assert out[0] == "[[True, True], [True, True]]"  # the children: the default
    assert out[1] == "[False, False]"  # the harness: its own handler
