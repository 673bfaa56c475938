"""A worker outlives its broker: Redis goes away while the worker holds unacknowledged messages,
comes back on the same address, and the worker, still the same process, reconnects and delivers.

The worker always holds unacknowledged messages: tasks are acknowledged late
(``CELERY_TASK_ACKS_LATE``) and retries are published with a countdown, which the worker keeps
reserved until they are due. celery 5.7.0's connection-loss handler collects the connection and
then closes it; closing restores the unacknowledged messages through the collected connection and
the worker exits (``CRITICAL Unrecoverable error: AttributeError("'NoneType' object has no
attribute 'hostname'")``). 5.6.3 (``requirements.txt``) reconnects: this test keeps it that way.

The test runs a ``redis-server`` of its own on a free port (it must be stopped and started again;
the shared one must not) and a real ``celery -A backoffice worker`` process on the test database.
Outside CI it is skipped without ``redis-server``; in CI (``CI=true``) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection

from backoffice.celery import app as celery_app
from phones.outbox import DELIVER_JOB_TASK
from provider_sync.tests.test_worker import Workers, _redis, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CI = os.environ.get("CI", "").lower() == "true"
REDIS_SERVER = shutil.which("redis-server")
COUNTDOWN_MESSAGES = 5  # retries published with a countdown: held unacknowledged by the worker
MISSING_JOB = 2_000_000_000  # no such job: its delivery finds nothing to do


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` process on loopback that the test stops and starts again, same port."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--dir", str(self.workdir)]
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: _listening(self.port) or self.proc.poll() is not None, 10, "redis-server to listen")
        assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()[-2000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        wait_for(lambda: not _listening(self.port), 10, f"port {self.port} to close")


def _use_broker(url: str, options: dict[str, Any] | None = None) -> None:
    """Point this process's Celery app at ``url`` with fresh connections. Set under the settings'
    own (prefixed) names: celery 5.6 reads ``CELERY_BROKER_URL`` before an unprefixed
    ``broker_url`` set later, 5.7 the other way round."""
    celery_app.conf["CELERY_BROKER_URL"] = url
    celery_app.conf["CELERY_BROKER_TRANSPORT_OPTIONS"] = options or {}
    # The write and read URLs too: another test (``test_worker._use_broker``, the chaos stack) may
    # have set them explicitly, and they would then keep pointing at its broker.
    celery_app.conf.broker_write_url = celery_app.conf.broker_read_url = url
    # Drop (not close) the pools: the old connections are released when collected.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if CI:
            pytest.fail(f"{message}: CI must run the broker-loss test")
        pytest.skip(f"{message}; CI runs this test")
    server = RedisServer(_free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker_worker(redis_server: RedisServer, django_db_setup: None, tmp_path: Path) -> Iterator[Workers]:
    """A solo worker on ``redis_server`` and the test database; this process publishes there too."""
    database = urlparse(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DATABASE_URL": urlunparse(database._replace(path=f"/{connection.settings_dict['NAME']}")),
        "CONN_MAX_AGE": "0",
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": redis_server.url,
    }
    original = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    _use_broker(redis_server.url)
    assert celery_app.conf.broker_write_url == redis_server.url
    workers = Workers(env, tmp_path)
    try:
        yield workers
    finally:
        workers.stop_all()
        _use_broker(*original)


def deliver_missing_job(offset: int = 0, **options: Any) -> str:
    """Publish the delivery of a job that does not exist (it finds nothing to do); the task id."""
    return celery_app.send_task(DELIVER_JOB_TASK, (MISSING_JOB + offset,), **options).id


def succeeded(log: Path, task_id: str) -> bool:
    return f"{DELIVER_JOB_TASK}[{task_id}] succeeded" in log.read_text()


def _errors(log: Path) -> str:
    """The worker's log lines at ERROR and above, without tracebacks."""
    lines = [line for line in log.read_text().splitlines() if "ERROR/" in line or "CRITICAL/" in line]
    return "\n".join(lines[-20:]) or log.read_text()[-3000:]


def test_worker_reconnects_after_redis_restarts_and_delivers(broker_worker, redis_server):
    worker = broker_worker.start()
    log = broker_worker.procs[-1][1]
    task_id = deliver_missing_job()
    wait_for(lambda: succeeded(log, task_id), 15, "a task before the restart")

    # The worker holds unacknowledged messages: retries published with a countdown are reserved
    # (and acknowledged late) until they are due.
    for offset in range(COUNTDOWN_MESSAGES):
        deliver_missing_job(offset, countdown=30)
    queue = _redis(redis_server.url)
    wait_for(lambda: queue.hlen("unacked") >= COUNTDOWN_MESSAGES, 15, "the worker to reserve the countdown messages")
    queue.close()

    # Redis goes away, stays away a few seconds, and comes back empty on the same port.
    connected_before = log.read_text().count("Connected to redis://")
    redis_server.stop()
    time.sleep(3)
    redis_server.start()
    _use_broker(redis_server.url)  # this process's pooled connections died with the server

    wait_for(
        lambda: log.read_text().count("Connected to redis://") > connected_before or worker.poll() is not None,
        30,
        "the worker to reconnect",
    )
    assert worker.poll() is None, f"the worker exited (rc={worker.returncode}) with Redis away:\n{_errors(log)}"

    # The same worker process runs the next task.
    task_id = deliver_missing_job()
    wait_for(lambda: succeeded(log, task_id) or worker.poll() is not None, 20, "a task after the restart")
    assert worker.poll() is None and succeeded(log, task_id), _errors(log)
    assert "Unrecoverable error" not in log.read_text()
