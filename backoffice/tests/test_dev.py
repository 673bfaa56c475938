"""``dev.py run`` stops everything it started however it is stopped: Ctrl-C, the terminal closing
(SIGHUP), ``kill`` (SIGTERM), and a process that ignores SIGTERM is killed after the grace.

Each test runs ``dev.supervise`` (what ``dev.py run`` runs once the product is set up) in a process
of its own over real honcho, with a small Procfile of sleeping Python processes standing for the
web app, the worker and its beat child, and the simulator, and then looks for them in /proc.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HONCHO = Path(sys.executable).with_name("honcho")

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or not HONCHO.exists(), reason="needs Linux's /proc and honcho"
)

SLEEP = "import time; time.sleep(300)"
# A process with a child of its own (as the worker and its embedded beat).
PARENT = (
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleep!r}, sys.argv[1]]); time.sleep(300)"
)
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"

SUPERVISOR = """\
import sys
sys.path.insert(0, {root!r})
import dev
sys.exit(dev.supervise([{honcho!r}, "start", "-f", {procfile!r}], grace={grace!r}))
"""


class Run:
    """One ``dev.supervise`` process over a Procfile whose processes carry a unique token."""

    def __init__(self, tmp_path: Path, processes: dict[str, str], grace: float = 10.0) -> None:
        self.token = f"dev-test-{uuid.uuid4().hex[:12]}"
        procfile = tmp_path / "Procfile"
        procfile.write_text(
            "".join(f'{name}: exec {sys.executable} -c "{code}" {self.token}\n' for name, code in processes.items())
        )
        self.script = tmp_path / "supervise.py"
        self.script.write_text(
            SUPERVISOR.format(root=str(ROOT), honcho=str(HONCHO), procfile=str(procfile), grace=grace)
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.master: int | None = None

    def start(self, *, terminal: bool = False) -> subprocess.Popen[bytes]:
        """Start the supervisor; with ``terminal``, as the session leader of a new pseudo-terminal
        (its controlling terminal, as in a terminal window) instead of with output to a pipe."""
        if terminal:
            self.master, slave = pty.openpty()
            self.proc = subprocess.Popen(
                [sys.executable, str(self.script)],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=_take_controlling_terminal,
            )
            os.close(slave)
        else:
            self.proc = subprocess.Popen(
                [sys.executable, str(self.script)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.proc

    def processes(self) -> set[int]:
        """Live processes (not zombies) started from the Procfile: their command carries the token."""
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if self.token.encode() in cmdline and stat[stat.rindex(")") + 2] not in "ZX":
                found.add(int(entry.name))
        return found

    def wait_started(self, count: int, timeout: float = 20) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            found = self.processes()
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, f"the supervisor ended early: {self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"{count} processes not started: {self.processes()} {self.output()}")

    def wait_gone(self, timeout: float) -> float:
        """Seconds until the supervisor and every Procfile process are gone."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None and not self.processes():
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(
            f"after {timeout}s: supervisor rc={self.proc.poll()}, left running: {sorted(self.processes())}"
        )

    def output(self) -> str:
        if self.proc.stdout is None or self.proc.poll() is None:
            return ""
        return self.proc.stdout.read().decode(errors="replace")[-2000:]

    def _drain(self) -> None:
        """Read the terminal's output so that it never fills up."""
        while self.master is not None and select.select([self.master], [], [], 0)[0]:
            try:
                if not os.read(self.master, 65536):
                    return
            except OSError:
                return

    def close_terminal(self) -> None:
        os.close(self.master)
        self.master = None

    def cleanup(self) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.master is not None:
            os.close(self.master)


def _take_controlling_terminal() -> None:
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def make(processes: dict[str, str], grace: float = 10.0) -> Run:
        run = Run(tmp_path, processes, grace)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.cleanup()


PRODUCT_LIKE = {"web": SLEEP, "worker": PARENT.format(sleep=SLEEP), "simulator": SLEEP}


def test_closing_the_terminal_stops_every_process(make_run):
    run = make_run(PRODUCT_LIKE)
    run.start(terminal=True)
    started = run.wait_started(4)  # web, worker and its child, simulator
    run.close_terminal()  # the kernel hangs the terminal up: SIGHUP to its session leader, dev.py
    run.wait_gone(15)
    assert run.proc.returncode == 128 + signal.SIGHUP
    assert not run.processes() and started


def test_sighup_to_the_foreground_group_stops_every_process(make_run):
    # What a shell does to its jobs when its terminal closes: SIGHUP to dev.py's process group.
    run = make_run(PRODUCT_LIKE)
    proc = run.start()
    run.wait_started(4)
    os.killpg(proc.pid, signal.SIGHUP)
    run.wait_gone(15)
    assert proc.returncode == 128 + signal.SIGHUP


def test_sigterm_stops_every_process(make_run):
    run = make_run(PRODUCT_LIKE)
    proc = run.start()
    run.wait_started(4)
    proc.send_signal(signal.SIGTERM)
    run.wait_gone(15)
    assert proc.returncode == 128 + signal.SIGTERM


def test_ctrl_c_is_handed_to_honcho_and_stops_every_process(make_run):
    run = make_run(PRODUCT_LIKE)
    proc = run.start()
    run.wait_started(4)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: its foreground group
    run.wait_gone(15)
    assert proc.returncode == 0
    assert "SIGINT received" in run.output()  # honcho's own report, as before


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(make_run):
    # Alone in its Procfile, no process of honcho's ever stops, so honcho waits for ever: only
    # dev.py's kill ends it.
    run = make_run({"stubborn": STUBBORN}, grace=1.0)
    proc = run.start()
    run.wait_started(1)
    time.sleep(0.5)  # its SIGTERM handler is set
    proc.send_signal(signal.SIGTERM)
    run.wait_gone(15)
    assert proc.returncode == 128 + signal.SIGTERM


def test_honcho_ending_on_its_own_returns_its_code(make_run):
    run = make_run({"quick": "import sys; sys.exit(3)", "web": SLEEP})
    proc = run.start()
    run.wait_gone(20)  # honcho stops the others when one ends
    assert proc.returncode == 3
