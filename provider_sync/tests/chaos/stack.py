"""The processes of the run: its own redis-server, the celery workers and beat."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from django.db import connection

from backoffice.celery import app as celery_app
from provider_sync.tests.chaos.config import ChaosConfig
from provider_sync.tests.test_worker import CELERY, ROOT, Workers, _use_broker, wait_for

# --- Processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` of the run's own, without persistence: stopping it loses every queued
    message, as a broker crash would. Started again on the same port."""

    def __init__(self, binary: str, log: Path) -> None:
        self.binary = binary
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = [self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self.ping() or self.proc.poll() is not None, 15, f"redis-server on port {self.port}")
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"redis-server exited at start ({self.proc.returncode}):\n{self.log.read_text()[-2000:]}"
            )

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class Stack(Workers):
    """The worker processes (``Workers``: solo pool, own process groups) and a beat process."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        super().__init__(env, logs)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()
        self.paused: set[int] = set()

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self.start()
        self.workers.append(proc)
        return proc

    def start_beat(self) -> subprocess.Popen[bytes]:
        log = self.logs / "beat.log"
        cmd = [str(CELERY), "-A", "backoffice", "beat", "-l", "INFO", "-s", str(self.logs / "beat-schedule")]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append((proc, log))
        wait_for(lambda: b"beat: Starting" in log.read_bytes() or proc.poll() is not None, 30, "beat to start")
        assert proc.poll() is None, log.read_text()
        return proc

    def pause(self, proc: subprocess.Popen[bytes]) -> None:
        self.paused.add(proc.pid)
        os.killpg(proc.pid, signal.SIGSTOP)

    def resume(self, proc: subprocess.Popen[bytes]) -> None:
        self.paused.discard(proc.pid)
        os.killpg(proc.pid, signal.SIGCONT)

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.pid in self.paused and proc.poll() is None:
                self.resume(proc)
        super().stop_all()

    def sigkill(self, proc: subprocess.Popen[bytes]) -> None:
        self.killed.add(proc.pid)
        self.kill(proc, signal.SIGKILL)

    def exited_by_themselves(self) -> list[tuple[subprocess.Popen[bytes], Path]]:
        return [(proc, log) for proc, log in self.procs if proc.poll() is not None and proc.pid not in self.killed]


def worker_env(cfg: ChaosConfig, sim_url: str, broker_url: str) -> dict[str, str]:
    """The environment of the workers and beat: the test database, this run's broker and
    simulator, the short timings."""
    database = urlparse(os.environ["DATABASE_URL"])
    test_db = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DATABASE_URL": urlunparse(database._replace(path=f"/{test_db}")),
        "CONN_MAX_AGE": "0",
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "SINCH_NUMBERS_BASE_URL": sim_url,
        "PLIVO_BASE_URL": sim_url,
        "SINCH_PROJECT_ID": "sim-project",
        "SINCH_KEY_ID": "sim-key-id",
        "SINCH_KEY_SECRET": "sim-key-secret",
        "PLIVO_AUTH_ID": "MASIMULATOR000000001",
        "PLIVO_AUTH_TOKEN": "sim-plivo-token",
        "PROVIDER_SIMULATOR": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: str(value) for key, value in cfg.worker_settings().items()})
    return env


@contextmanager
def publishing_to(url: str) -> Iterator[None]:
    """This process (the live server's API) publishes to ``url`` while the block runs."""
    original = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    _use_broker(url)
    if str(original[0]).startswith("redis"):  # the settings' Redis transport options, as in production
        celery_app.conf.broker_transport_options = dict(original[1] or {})
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = original
        _use_broker(original[0])
        celery_app.conf.broker_transport_options = original[1]
