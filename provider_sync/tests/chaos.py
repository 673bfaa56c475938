"""The chaos harness of the provider sync, driven by ``test_chaos.py``.

The promise under test: *no committed change is ever lost or overwritten by an older one,
whatever the broker, the workers and the providers do.* One ``random.Random(seed)`` decides
everything the harness does (the phones, the API changes and their order, the faults, when a
worker is killed, when the broker goes away, which provider turns slow), so a failure can be
replayed with ``CHAOS_SEED=<seed>``; the wall clock still decides how the stack interleaves.

The stack is real: the test PostgreSQL database, a ``redis-server`` of the run's own (stopped and
started again on the same port during the run), two ``celery -A backoffice worker`` processes
(solo pool, one of them SIGKILLed and restarted) and ``celery beat`` (sweeper every second), the
provider simulator (its ``/_sim/`` control API over HTTP: faults, numbers, request log,
callbacks) and the API over HTTP (pytest-django's ``live_server``) with operators' JWTs.

What is checked afterwards (``ChaosRun.check``), each as a named property:

``api``              every API write answered 2xx, during the broker outage too
``committed``        the database holds what the API accepted (phones, links)
``provider-state``   every link's number at its provider holds the link's desired state
``released``         numbers a link moved away from (or unlinked) hold no services
``attribution``      every provider request names its job and claim (X-Sync-Job, X-Sync-Claim)
``push-after-success``  no request of a synced job started after its ``finished_at``
``older-after-newer``   no write of a job ended after a newer job of its link was first claimed
``overlap``          no two requests of different (job, claim) pairs overlap on one number
``outcomes``         every job synced, superseded, or failed by an injected permanent error
``audit``            one outcome entry per finished job, naming the job's operator; the audit
                     chain verifies
``callbacks``        no Sinch callback answered 5xx, went unanswered, or met a database error
``processes``        no worker or beat exited by itself
``convergence``      every job final within the bounded wait

On failure the report names the property, the job or number, and the seed; the logs (workers,
beat, redis), the simulator's request log and callbacks, and the jobs table are kept under
``test-output/chaos-<seed>/`` at the repository root.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse, urlunparse
from uuid import UUID

import httpx
import phonenumbers
from django.db import connection

from audit.integrity import audit_verify
from audit.models import AuditEntry, AuditEvent
from backoffice.celery import app as celery_app
from phones.models import OPEN_JOB_STATUSES, Phone, ProviderLink, SyncAttempt, SyncJob, SyncJobStatus
from provider_sync.checks import settings_fields
from provider_sync.tests.conftest import SYNC_TEST_SETTINGS
from provider_sync.tests.test_worker import CELERY, ROOT, Workers, _use_broker, wait_for

CI = os.environ.get("CI", "").lower() == "true"
OUTPUT_ROOT = ROOT / "test-output"

SINCH, PLIVO = "sinch", "plivo"
PROVIDERS = (SINCH, PLIVO)
WRITE_METHOD = {SINCH: "PATCH", PLIVO: "POST"}
SINCH_VOICE_KEYS = {"RTC": "appId", "EST": "trunkId", "FAX": "serviceId"}
SINCH_VOICE_TARGETS = {"RTC": "app", "EST": "trunk", "FAX": "fax"}
PROVISIONING_RUNNING = ("WAITING", "IN_PROGRESS", "PROVISIONING_STATUS_UNSPECIFIED")
JOB_HEADER, CLAIM_HEADER = "x-sync-job", "x-sync-claim"

# Injected permanent errors carry these marks, so that a job failed by one is told apart.
INJECTED_400 = "chaos: injected 400"
INJECTED_PROVISIONING_CODE = "CHAOS_PROVISIONING_FAILED"
OUTCOME_EVENTS = (
    AuditEvent.PHONE_SYNC_SUCCEEDED,
    AuditEvent.PHONE_SYNC_FAILED,
    AuditEvent.PHONE_PROVISIONING_FINISHED,
)
FINAL_OK = (SyncJobStatus.SYNCED, SyncJobStatus.SUPERSEDED, SyncJobStatus.FAILED)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class ChaosConfig:
    """The run's knobs; every one can be set from the environment (``CHAOS_*``)."""

    seed: int
    phones: int = 100
    ops: int = 300
    lease_seconds: float = 4.0  # four provider timeouts: the shortest lease the fencing allows
    provider_timeout: float = 1.0
    max_attempts: int = 10  # injected retryable faults must never exhaust a job's attempts
    converge_seconds: float = 90.0
    # The slow provider: every request of one provider delayed this much, under the client's
    # timeout (a request past the timeout is applied by the provider after the client gave up:
    # no fencing on our side can order that), so that a batch of pushes outlasts the lease.
    slow_latency_ms: int = 500
    slow_seconds: float = 12.0
    push_threads: int = 2  # a batch of 32 pushes to the slow provider takes 16 rounds: > the lease
    clock_slack: float = 0.025  # all processes share one clock; timestamps are rounded to 1 ms
    keep_output: bool = False

    @classmethod
    def from_env(cls) -> ChaosConfig:
        raw = os.environ.get("CHAOS_SEED", "").strip()
        seed = int(raw) if raw else random.SystemRandom().randrange(1, 1_000_000)
        return cls(
            seed=seed,
            phones=_env_int("CHAOS_PHONES", cls.phones),
            ops=_env_int("CHAOS_OPS", cls.ops),
            lease_seconds=_env_float("CHAOS_LEASE_SECONDS", cls.lease_seconds),
            provider_timeout=_env_float("CHAOS_PROVIDER_TIMEOUT_SECONDS", cls.provider_timeout),
            max_attempts=_env_int("CHAOS_MAX_ATTEMPTS", cls.max_attempts),
            converge_seconds=_env_float("CHAOS_CONVERGE_SECONDS", cls.converge_seconds),
            slow_latency_ms=_env_int("CHAOS_SLOW_LATENCY_MS", cls.slow_latency_ms),
            slow_seconds=_env_float("CHAOS_SLOW_SECONDS", cls.slow_seconds),
            push_threads=_env_int("CHAOS_PUSH_THREADS", cls.push_threads),
            clock_slack=_env_float("CHAOS_CLOCK_SLACK_MS", cls.clock_slack * 1000) / 1000,
            keep_output=os.environ.get("CHAOS_KEEP_OUTPUT", "") not in ("", "0", "false"),
        )

    def worker_settings(self) -> dict[str, Any]:
        """The sync timings of the workers and beat (their environment)."""
        return {
            **SYNC_TEST_SETTINGS,
            "PROVIDER_TIMEOUT_SECONDS": self.provider_timeout,
            "SYNC_LEASE_SECONDS": self.lease_seconds,
            "SYNC_MAX_ATTEMPTS": self.max_attempts,
            "SYNC_PUSH_THREADS": self.push_threads,
            "SYNC_SWEEP_INTERVAL_SECONDS": 1,
            "SYNC_RECONCILE_INTERVAL_SECONDS": 86400,  # its reads are no job's: keep them out
        }


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


# --- The simulator, through its control API -----------------------------------------------------


class SimControl:
    """The simulator's ``/_sim/`` control API over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=30.0)

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, (
            f"simulator control {response.request.url}: {response.status_code} {response.text}"
        )
        return response.json()

    def seed(self, numbers: list[dict[str, Any]]) -> None:
        self._ok(self.client.post("/_sim/numbers", json={"numbers": numbers}))

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._ok(self.client.post("/_sim/faults", json=spec))["faults"][0]

    def clear_faults(self) -> None:
        self._ok(self.client.delete("/_sim/faults"))

    def faults(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/faults"))["faults"]

    def number(self, provider: str, e164: str) -> dict[str, Any] | None:
        key = e164 if provider == SINCH else e164.lstrip("+")
        response = self.client.get(f"/_sim/numbers/{provider}/{quote(key, safe='')}")
        if response.status_code == 404:
            return None
        return self._ok(response)["state"]

    def numbers(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/numbers"))["numbers"]

    def requests(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/requests"))["requests"]

    def callbacks(self) -> list[dict[str, Any]]:
        return self._ok(self.client.get("/_sim/callbacks"))["callbacks"]

    def close(self) -> None:
        self.client.close()


# --- The API, over HTTP -------------------------------------------------------------------------


@dataclass
class ApiCall:
    index: int
    kind: str
    operator: str
    method: str
    path: str
    body: Any
    phase: str
    request_id: str
    started: float
    elapsed: float = 0.0
    status: int | None = None
    response: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        answer = f"{self.status} {json.dumps(self.response)[:300]}" if self.status is not None else self.error
        return (
            f"#{self.index} {self.kind} by {self.operator} in phase {self.phase}: {self.method} {self.path} "
            f"{json.dumps(self.body) if self.body is not None else ''} -> {answer}"
        )


class Api:
    """Calls the API as an operator (Bearer JWT) with a request id per call (``X-Request-ID``,
    which the jobs keep: each job is traced to the call and the operator that caused it)."""

    def __init__(self, base_url: str, seed: int, tokens: dict[str, str]) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30.0)
        self.seed = seed
        self.tokens = tokens
        self.calls: list[ApiCall] = []
        self.phase = "setup"

    def call(self, kind: str, operator: str, method: str, path: str, body: Any = None) -> ApiCall:
        call = ApiCall(
            index=len(self.calls),
            kind=kind,
            operator=operator,
            method=method,
            path=path,
            body=body,
            phase=self.phase,
            request_id=f"chaos-{self.seed}-{len(self.calls)}",
            started=time.time(),
        )
        self.calls.append(call)
        headers = {"Authorization": f"Bearer {self.tokens[operator]}", "X-Request-ID": call.request_id}
        try:
            response = self.client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            call.error = f"{type(exc).__name__}: {exc}"
        else:
            call.status = response.status_code
            try:
                call.response = response.json()
            except ValueError:
                call.response = response.text[:500]
        call.elapsed = time.time() - call.started
        return call

    def close(self) -> None:
        self.client.close()


# --- The model: what the API accepted -----------------------------------------------------------


@dataclass
class Number:
    national: str  # as the API takes it in "number"
    area_code: int | None
    country_code: int
    e164: str


class NumberPool:
    """Unique, valid numbers: Brazilian mobiles (+55 11 9xxxx-xxxx) and US numbers."""

    US_AREAS = (202, 212, 312, 415, 617, 646)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def new(self, country: str) -> Number:
        while True:
            if country == "BR":
                digits = f"9{self.rng.randint(0, 9999):04d}{self.rng.randint(0, 9999):04d}"
                number = Number(f"{digits[:5]}-{digits[5:]}", 11, 55, f"+5511{digits}")
            else:
                national = (
                    f"{self.rng.choice(self.US_AREAS)}{self.rng.randint(200, 999)}{self.rng.randint(0, 9999):04d}"
                )
                number = Number(national, None, 1, f"+1{national}")
            if number.e164 in self.used:
                continue
            if not phonenumbers.is_valid_number(phonenumbers.parse(number.e164, None)):
                continue
            self.used.add(number.e164)
            return number


@dataclass
class LinkModel:
    provider: str
    settings: dict[str, Any]  # every field of the provider's settings, None when not set
    linked: bool = True


@dataclass
class PhoneModel:
    key: int
    account_id: int
    country: str
    number: Number
    type: str
    callback: bool  # its Sinch links always carry our callback URL
    pk: int | None = None
    extension: str | None = None
    active: bool = True
    link: LinkModel | None = None

    @property
    def path(self) -> str:
        return f"/accounts/v1/accounts/{self.account_id}/phones/{self.pk}"

    @property
    def linked(self) -> bool:
        return self.link is not None and self.link.linked


def full_settings(provider: str, sent: dict[str, Any]) -> dict[str, Any]:
    return {key: sent.get(key) for key in settings_fields(provider)}


def sinch_services(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "sms_service_plan_id": settings.get("sms_service_plan_id") or None,
        "sms_campaign_id": settings.get("sms_campaign_id") or None,
        "voice_target_id": settings.get("voice_target_id") or None,
        "voice_type": (settings.get("voice_type") or None) if settings.get("voice_target_id") else None,
    }


def sinch_view(state: dict[str, Any]) -> dict[str, Any]:
    """A Sinch number's state (the API's GET) in our settings' terms."""
    sms = state.get("smsConfiguration") or {}
    voice = state.get("voiceConfiguration") or {}
    vtype = voice.get("type")
    target = voice.get(SINCH_VOICE_KEYS.get(vtype or "", ""), "") or None
    running = [
        name
        for name, job in (("sms", sms.get("scheduledProvisioning")), ("voice", voice.get("scheduledVoiceProvisioning")))
        if job and job.get("status") in PROVISIONING_RUNNING
    ]
    return {
        "sms_service_plan_id": sms.get("servicePlanId") or None,
        "sms_campaign_id": sms.get("campaignId") or None,
        "voice_target_id": target,
        "voice_type": vtype if target else None,
        "display_name": state.get("displayName") or None,
        "callback_url": state.get("callbackUrl") or None,
        "provisioning_running": running,
    }


def plivo_view(state: dict[str, Any]) -> dict[str, Any]:
    application = state.get("application")
    app_id = [p for p in str(application).split("/") if p][-1] if application else None
    return {"alias": state.get("alias") or None, "app_id": app_id}


# --- Violations and the report ------------------------------------------------------------------


@dataclass
class Violation:
    prop: str
    subject: str
    detail: str


PROPERTY_TEXT = {
    "convergence": "every job final (synced, superseded or failed) within the bounded wait",
    "api": "every API write answered 2xx (the broker outage included)",
    "committed": "the database holds what the API accepted",
    "provider-state": "every link's number holds the link's desired state at its provider",
    "released": "numbers a link moved away from (or unlinked) hold no services",
    "attribution": "every provider request names its job and claim (X-Sync-Job, X-Sync-Claim)",
    "push-after-success": "no request of a synced job starts after its finished_at",
    "older-after-newer": "no write of a job ends after a newer job of its link was first claimed",
    "overlap": "no two (job, claim) pairs have requests in flight on one number at once",
    "outcomes": "every job synced, superseded, or failed only by an injected permanent error",
    "audit": "one outcome audit entry per finished job, naming the job's operator; audit_verify clean",
    "callbacks": "no Sinch callback answered 5xx, went unanswered, or met a database error",
    "processes": "no worker or beat exited by itself",
}


def _fmt_ts(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value).strftime("%H:%M:%S.%f")[:-3]


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return value.timestamp()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal | Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=_json_default))


# --- The run ------------------------------------------------------------------------------------


class ServerLog(logging.Handler):
    """Warnings and errors of the API process (the live server's threads run in this one): the
    sync's (a callback that swallowed a database error, publishes lost while the broker is down)
    and Django's request errors (the traceback of any 5xx)."""

    LOGGERS = ("phones.sync", "django.request")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.records.append(
            {"at": _fmt_ts(record.created), "logger": record.name, "level": record.levelname, "message": text}
        )

    @contextmanager
    def attached(self) -> Iterator[ServerLog]:
        loggers = [logging.getLogger(name) for name in self.LOGGERS]
        for logger in loggers:
            logger.addHandler(self)
        try:
            yield self
        finally:
            for logger in loggers:
                logger.removeHandler(self)


@dataclass
class Req:
    """One provider request of the simulator's log, attributed to its job and claim."""

    id: int
    job: int
    claim: str
    provider: str
    number: str  # E.164
    method: str
    status: int | None
    fault: str | None
    start: float
    end: float

    @property
    def hung(self) -> bool:
        return self.status is None and self.fault == "hang"

    @property
    def applied_write(self) -> bool:
        return self.method in ("PATCH", "POST") and self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return (
            f"request {self.id} {self.method} {self.provider} {self.number} job {self.job} claim {self.claim[:8]} "
            f"[{_fmt_ts(self.start)}..{_fmt_ts(self.end)}] status {self.status}"
            f"{' fault ' + self.fault if self.fault else ''}"
        )


@dataclass
class Timeline:
    started: float = field(default_factory=time.time)
    events: list[dict[str, Any]] = field(default_factory=list)

    def mark(self, event: str, **details: Any) -> None:
        at = time.time()
        self.events.append({"t": round(at - self.started, 3), "at": _fmt_ts(at), "event": event, **details})
        print(f"[chaos +{at - self.started:6.1f}s] {event} {details if details else ''}", flush=True)


class ChaosRun:
    """One seeded run: set-up, the changes under faults, the wait, the checks, the report."""

    def __init__(
        self,
        cfg: ChaosConfig,
        *,
        redis_binary: str,
        sim_url: str,
        api_url: str,
        operators: dict[str, Any],
        workdir: Path,
    ) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(redis_binary, self.logs / "redis.log")
        self.sim = SimControl(sim_url)
        self.sim_url = sim_url
        self.callback_url = f"{api_url}/providers/sinch/callback"
        self.operators = operators  # email -> operator
        from rest_framework_simplejwt.tokens import RefreshToken

        tokens = {email: str(RefreshToken.for_user(user).access_token) for email, user in operators.items()}
        self.api = Api(api_url, cfg.seed, tokens)
        self.emails = sorted(operators)
        self.pool = NumberPool(self.rng)
        self.phones: list[PhoneModel] = []
        self.timeline = Timeline()
        self.stack: Stack | None = None
        self.injected: list[dict[str, Any]] = []
        self.serial = 0
        self.inactivations = 0
        self.slow_provider: str | None = None  # while one provider is slow
        self.heal_calls: list[ApiCall] = []
        self.open_after_wait: list[dict[str, Any]] = []
        self.collected: dict[str, Any] = {}
        self.violations: list[Violation] = []
        self.phase_seconds: dict[str, float] = {}
        self.server_log = ServerLog()

    # -- helpers -----------------------------------------------------------------------------

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def operator(self) -> str:
        return self.rng.choice(self.emails)

    def seed_numbers(self, numbers: Iterable[Number]) -> None:
        """Every number we may link, at both providers (a number the provider does not know
        answers 404)."""
        rows = []
        for number in numbers:
            rows.append({"provider": SINCH, "number": number.e164})
            rows.append({"provider": PLIVO, "number": number.e164})
        if rows:
            self.sim.seed(rows)

    def settings_for(self, phone: PhoneModel, provider: str, *, provision: bool = False) -> dict[str, Any]:
        """New link settings: every free-text field set (its value is then exact at the
        provider), services drawn at random (``provision``: a Sinch service plan other than the
        current one, so that the push starts a scheduled provisioning)."""
        n = self._next()
        rng = self.rng
        if provider == SINCH:
            current = phone.link.settings.get("sms_service_plan_id") if phone.link is not None else None
            plans = [p for p in ("plan-a", "plan-b", "plan-c") if p != current] if provision else None
            plan = rng.choice(plans) if plans else rng.choice(["plan-a", "plan-b", "plan-c", None])
            campaign = rng.choice(["camp-1", "camp-2", None]) if plan and phone.country == "US" else None
            vtype = rng.choice(["RTC", "EST", "FAX", None])
            sent = {
                "display_name": f"chaos {self.cfg.seed}-{n}",
                "sms_service_plan_id": plan,
                "sms_campaign_id": campaign,
                "voice_type": vtype,
                "voice_target_id": f"{SINCH_VOICE_TARGETS[vtype]}-{rng.randint(1, 3)}" if vtype else None,
                "callback_url": self.callback_url if phone.callback else None,
            }
        else:
            sent = {"alias": f"chaos-{self.cfg.seed}-{n}", "app_id": rng.choice(["app-1", "app-2", "app-3", None])}
        return {key: value for key, value in sent.items() if value is not None}

    # -- the stack ---------------------------------------------------------------------------

    def start_stack(self) -> None:
        self.redis.start()
        self.timeline.mark("redis started", port=self.redis.port)
        self.stack = Stack(worker_env(self.cfg, self.sim_url, self.redis.url), self.logs)
        for _ in range(2):
            self.stack.start_worker()
        self.stack.start_beat()
        self.timeline.mark("workers and beat started", pids=[p.pid for p, _ in self.stack.procs])

    def stop_stack(self) -> None:
        if self.stack is not None:
            self.stack.stop_all()
        self.redis.stop()
        self.api.close()
        self.sim.close()

    # -- the changes -------------------------------------------------------------------------

    def create_phones(self) -> None:
        rng = self.rng
        for key in range(self.cfg.phones):
            country = "BR" if key % 2 == 0 else "US"
            phone = PhoneModel(
                key=key,
                account_id=880_001 + key % 7,
                country=country,
                number=self.pool.new(country),
                type=rng.choice(["MOBILE", "RESIDENTIAL", "COMMERCIAL"]),
                callback=rng.random() < 0.35,
                extension=rng.choice([None, None, str(rng.randint(1, 9999))]),
            )
            body: dict[str, Any] = {
                "number": phone.number.national,
                "type": phone.type,
                "country_code": phone.number.country_code,
            }
            if phone.number.area_code is not None:
                body["area_code"] = phone.number.area_code
            if phone.extension:
                body["extension"] = phone.extension
            call = self.api.call(
                "create", self.operator(), "POST", f"/accounts/v1/accounts/{phone.account_id}/phones", body
            )
            if call.ok:
                phone.pk = call.response["id"]
                self.phones.append(phone)
        self.seed_numbers(p.number for p in self.phones)
        self.timeline.mark("phones created", phones=len(self.phones))

    def link_phones(self) -> None:
        for phone in self.phones:
            if self.rng.random() < 0.06:
                continue  # a few start unlinked: linked later by the changes
            self.put_link(phone, self.rng.choice(PROVIDERS), "link")
        self.timeline.mark("phones linked", linked=sum(p.linked for p in self.phones))

    def put_link(self, phone: PhoneModel, provider: str, kind: str, *, provision: bool = False) -> ApiCall:
        sent = self.settings_for(phone, provider, provision=provision)
        call = self.api.call(
            kind,
            self.operator(),
            "PUT",
            f"{phone.path}/provider-link",
            {"provider": provider, "settings": sent},
        )
        if call.ok:
            phone.link = LinkModel(provider=provider, settings=full_settings(provider, sent), linked=True)
        return call

    def patch_phone(self, phone: PhoneModel, kind: str, body: dict[str, Any], apply: Callable[[], None]) -> ApiCall:
        call = self.api.call(kind, self.operator(), "PATCH", phone.path, body)
        if call.ok:
            apply()
        return call

    def choices_for(self, phone: PhoneModel) -> list[tuple[str, int]]:
        ops: list[tuple[str, int]] = []
        if phone.active:
            ops += [("extension", 7), ("type", 5), ("number", 10)]
            if phone.linked:
                ops += [("settings", 22), ("switch", 9)]
            else:
                ops += [("relink", 9)]
            if self.inactivations < max(1, self.cfg.phones // 12):
                ops.append(("inactivate", 3))
        if phone.linked:
            ops.append(("unlink", 6))
        if phone.link is not None:
            ops.append(("resync", 8))
        return ops

    def change(self, phone: PhoneModel, kind: str) -> ApiCall:
        rng = self.rng
        if kind == "extension":
            value = rng.choice(["", str(rng.randint(1, 999_999))])
            return self.patch_phone(
                phone, kind, {"extension": value}, lambda: setattr(phone, "extension", value or None)
            )
        if kind == "type":
            value = rng.choice([t for t in ("MOBILE", "RESIDENTIAL", "COMMERCIAL") if t != phone.type])
            return self.patch_phone(phone, kind, {"type": value}, lambda: setattr(phone, "type", value))
        if kind == "number":
            number = self.pool.new(phone.country)
            self.seed_numbers([number])
            return self.patch_phone(phone, kind, {"number": number.national}, lambda: setattr(phone, "number", number))
        if kind == "inactivate":

            def inactivate() -> None:
                phone.active = False
                self.inactivations += 1

            return self.patch_phone(phone, kind, {"active": False}, inactivate)
        if kind == "settings":
            assert phone.link is not None
            return self.put_link(phone, phone.link.provider, kind)
        if kind == "switch":
            assert phone.link is not None
            return self.put_link(phone, SINCH if phone.link.provider == PLIVO else PLIVO, kind)
        if kind == "relink":
            return self.put_link(phone, rng.choice(PROVIDERS), kind)
        if kind == "unlink":
            call = self.api.call(kind, self.operator(), "DELETE", f"{phone.path}/provider-link")
            if call.ok:
                assert phone.link is not None
                phone.link.linked = False
            return call
        if kind == "resync":
            return self.api.call(kind, self.operator(), "POST", f"{phone.path}/sync")
        raise AssertionError(kind)

    def random_change(self, only_provider: str | None = None) -> ApiCall:
        rng = self.rng
        phones = self.phones
        if only_provider is not None:
            phones = [p for p in phones if p.active and p.linked and p.link.provider == only_provider]
            if not phones:
                return self.random_change()
        while True:
            phone = rng.choice(phones)
            choices = self.choices_for(phone)
            if only_provider is not None:
                choices = [(k, w) for k, w in choices if k in ("settings", "resync")]
            if choices:
                kinds, weights = zip(*choices, strict=True)
                return self.change(phone, rng.choices(kinds, weights)[0])

    def bulk_resync(self, provider: str) -> None:
        """Re-sync up to a batch (30) of the phones linked at ``provider`` at once (one bulk call
        per account) while one worker is paused for a moment (SIGSTOP for at most a second, well
        under the lease less a provider timeout): the other claims them as one batch whose pushes
        to the slow provider outlast the lease, and the paused one, resumed, is free to claim what
        lapses. The pause is bounded in time, not by the calls: a worker stopped inside its
        transaction holds the rows the calls' supersede waits for."""
        assert self.stack is not None
        phones = [p for p in self.phones if p.linked and p.link.provider == provider]
        chosen = self.rng.sample(phones, min(30, len(phones)))
        by_account: dict[int, list[int]] = defaultdict(list)
        for phone in chosen:
            by_account[phone.account_id].append(phone.pk)
        calls = [(account_id, sorted(ids), self.operator()) for account_id, ids in sorted(by_account.items())]
        alive = [proc for proc in self.stack.workers if proc.poll() is None]
        paused = self.rng.choice(alive) if len(alive) > 1 else None

        def post_all() -> None:
            for account_id, ids, operator in calls:
                path = f"/accounts/v1/accounts/{account_id}/phones/sync"
                self.api.call("bulk-resync", operator, "POST", path, {"ids": ids})

        poster = threading.Thread(target=post_all, name="chaos-bulk-resync")
        if paused is not None:
            self.stack.pause(paused)
            self.timeline.mark("worker paused (SIGSTOP)", pid=paused.pid)
        try:
            poster.start()
            poster.join(timeout=1.0)
        finally:
            if paused is not None:
                self.stack.resume(paused)
                self.timeline.mark("worker resumed (SIGCONT)", pid=paused.pid)
        poster.join()
        self.timeline.mark("bulk re-sync", provider=provider, phones=len(chosen))

    # -- the faults --------------------------------------------------------------------------

    def inject(self, spec: dict[str, Any], op: int) -> None:
        added = self.sim.add_fault(spec)
        self.injected.append({"op": op, "t": round(time.time() - self.timeline.started, 3), **spec, "id": added["id"]})

    def random_fault(self, op: int) -> None:
        rng = self.rng
        kind = rng.choices(
            ["status", "rate_limit", "latency", "hang", "permanent", "provisioning"], [30, 14, 22, 10, 6, 6]
        )[0]
        provider = rng.choice(PROVIDERS)
        linked = [p for p in self.phones if p.linked and p.active]
        target = rng.choice(linked) if linked else None
        number = target.number.e164 if target is not None and rng.random() < 0.3 else None
        method = rng.choice([None, "GET", WRITE_METHOD[provider]])
        if kind == "status":
            spec = {
                "kind": "status",
                "provider": provider,
                "method": method,
                "number": number,
                "status": rng.choice([500, 502, 503]),
                "count": rng.randint(1, 3),
            }
        elif kind == "rate_limit":
            spec = {
                "kind": "rate_limit",
                "provider": provider,
                "method": method,
                "number": number,
                "retry_after": rng.choice([1, 2]),
                "count": rng.randint(1, 2),
            }
        elif kind == "latency":
            # Latency faults add up: their sum stays well under the client's timeout (a request
            # answered after the client gave up is applied all the same: nothing can order it).
            latency = rng.randint(50, 350)
            active = sum(f["latency_ms"] for f in self.sim.faults() if f["kind"] == "latency")
            if self.slow_provider is not None or active + latency > 600 * self.cfg.provider_timeout:
                return
            spec = {
                "kind": "latency",
                "provider": provider,
                "method": method,
                "latency_ms": latency,
                "count": rng.randint(1, 6),
            }
        elif kind == "hang":  # past the client's timeout: dropped unanswered, never applied
            spec = {
                "kind": "hang",
                "provider": provider,
                "method": method,
                "hang_seconds": round(self.cfg.provider_timeout * rng.uniform(1.3, 2.5), 2),
                "count": 1,
            }
        elif kind == "permanent":
            if target is None or sum(1 for f in self.injected if f.get("status") == 400) >= 6:
                return
            provider = target.link.provider
            message = f"{INJECTED_400} #{self._next()}"
            body: Any = (
                {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": []}}
                if provider == SINCH
                else {"api_id": "chaos", "error": message}
            )
            spec = {
                "kind": "status",
                "provider": provider,
                "method": WRITE_METHOD[provider],
                "number": target.number.e164,
                "status": 400,
                "body": body,
                "count": 1,
            }
        else:
            sinch = [p for p in linked if p.link.provider == SINCH]
            if not sinch or sum(1 for f in self.injected if f["kind"] == "provisioning_failure") >= 5:
                return
            target = rng.choice(sinch)
            spec = {
                "kind": "provisioning_failure",
                "provider": SINCH,
                "number": target.number.e164,
                "error_codes": [INJECTED_PROVISIONING_CODE],
                "count": 1,
            }
        self.inject(spec, op)
        if kind in ("permanent", "provisioning") and target is not None:
            # A change of that link at once, so that the permanent error meets a job (which then
            # fails; the link is re-synced after the run: ``heal``).
            self.put_link(target, target.link.provider, f"settings-after-{kind}", provision=kind == "provisioning")

    # -- the scenario ------------------------------------------------------------------------

    def run_changes(self) -> None:
        cfg, rng = self.cfg, self.rng
        n = cfg.ops
        kill_at = rng.randint(int(n * 0.15), int(n * 0.25))
        restart_after = rng.randint(6, 12)
        outage_at = rng.randint(int(n * 0.40), int(n * 0.50))
        outage_ops = rng.randint(15, 25)
        outage_min_seconds = rng.uniform(3.0, 5.0)
        slow_at = max(rng.randint(int(n * 0.62), int(n * 0.70)), outage_at + outage_ops + 5)
        slow_burst = rng.randint(40, 60)
        slow_provider = rng.choice(PROVIDERS)
        self.timeline.mark(
            "schedule",
            kill_at=kill_at,
            restart_after=restart_after,
            outage_at=outage_at,
            outage_ops=outage_ops,
            slow_at=slow_at,
            slow_provider=slow_provider,
        )
        assert self.stack is not None
        killed = None
        outage_started = slow_started = None
        op = 0
        self.api.phase = "changes"
        while op < n:
            if op == kill_at:
                killed = rng.choice(self.stack.workers)
                self.stack.sigkill(killed)
                self.timeline.mark("worker SIGKILLed", op=op, pid=killed.pid)
            if killed is not None and op == kill_at + restart_after:
                proc = self.stack.start_worker()
                self.timeline.mark("worker restarted", op=op, pid=proc.pid)
                killed = None
            if op == outage_at:
                self.redis.stop()
                self.api.phase = "broker-outage"
                outage_started = time.time()
                self.timeline.mark("broker stopped", op=op)
            if outage_started is not None and op >= outage_at + outage_ops:
                time.sleep(max(0.0, outage_min_seconds - (time.time() - outage_started)))
                self.redis.start()
                self.api.phase = "changes"
                self.timeline.mark("broker started again", op=op, down_seconds=round(time.time() - outage_started, 1))
                outage_started = None
            if op == slow_at:
                self.inject(
                    {"kind": "latency", "provider": slow_provider, "latency_ms": cfg.slow_latency_ms, "count": None},
                    op,
                )
                self.api.phase = f"slow-{slow_provider}"
                self.slow_provider = slow_provider
                slow_started = time.time()
                self.timeline.mark("provider slow", op=op, provider=slow_provider, latency_ms=cfg.slow_latency_ms)
                self.bulk_resync(slow_provider)  # all its numbers at once: one batch outlasts the lease
            if slow_started is not None and op < slow_at + slow_burst:
                self.random_change(only_provider=slow_provider)  # a backlog of pushes to the slow one
                op += 1
                continue
            if slow_started is not None and time.time() - slow_started >= cfg.slow_seconds:
                self.sim.clear_faults()  # the control API removes all faults at once
                self.api.phase = "changes"
                self.slow_provider = None
                self.timeline.mark("provider fast again (faults cleared)", op=op)
                slow_started = None
            if rng.random() < 0.12:
                self.random_fault(op)
            self.random_change()
            op += 1
            time.sleep(0.0 if rng.random() < 0.3 else rng.uniform(0.03, 0.25))
        if outage_started is not None:
            self.redis.start()
            self.timeline.mark("broker started again", op=op)
        if killed is not None:
            self.stack.start_worker()
            self.timeline.mark("worker restarted", op=op)
        if slow_started is not None:
            self.sim.clear_faults()
            self.slow_provider = None
            self.timeline.mark("provider fast again (faults cleared)", op=op)
        self.last_failures(op)
        self.api.phase = "after"
        self.timeline.mark("changes done", api_calls=len(self.api.calls))

    def last_failures(self, op: int) -> None:
        """The last changes meet a permanent error (a 400; a failed Sinch provisioning), so that
        links end the run with a failed job: ``heal`` re-syncs them, as an operator would."""
        rng = self.rng
        linked = [p for p in self.phones if p.linked and p.active]
        sinch = [p for p in linked if p.link.provider == SINCH]
        jobs = []
        if linked:
            target = rng.choice(linked)
            provider = target.link.provider
            message = f"{INJECTED_400} #{self._next()} (last)"
            body: Any = (
                {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": []}}
                if provider == SINCH
                else {"api_id": "chaos", "error": message}
            )
            self.inject(
                {
                    "kind": "status",
                    "provider": provider,
                    "method": WRITE_METHOD[provider],
                    "number": target.number.e164,
                    "status": 400,
                    "body": body,
                    "count": 1,
                },
                op,
            )
            jobs.append(self.put_link(target, provider, "settings-after-permanent"))
        others = [p for p in sinch if not linked or p is not target]
        if others:
            target = rng.choice(others)
            self.inject(
                {
                    "kind": "provisioning_failure",
                    "provider": SINCH,
                    "number": target.number.e164,
                    "error_codes": [INJECTED_PROVISIONING_CODE],
                    "count": 1,
                },
                op,
            )
            jobs.append(self.put_link(target, SINCH, "settings-after-provisioning", provision=True))
        ids = [call.response["latest_job"]["id"] for call in jobs if call.ok and call.response.get("latest_job")]
        wait_for(
            lambda: not SyncJob.objects.filter(pk__in=ids, status__in=OPEN_JOB_STATUSES).exists(),
            30,
            f"the jobs of the last changes {ids} to end",
        )
        self.timeline.mark("last changes met their permanent errors", jobs=ids)

    def open_jobs(self) -> list[dict[str, Any]]:
        return list(
            SyncJob.objects.filter(status__in=OPEN_JOB_STATUSES)
            .order_by("id")
            .values(
                "id",
                "link_id",
                "provider",
                "number",
                "reason",
                "status",
                "attempts",
                "polls",
                "next_attempt_at",
                "locked_until",
                "last_status",
                "last_error",
            )
        )

    def wait_converged(self, seconds: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            still = self.open_jobs()
            if not still or time.monotonic() > deadline:
                return still
            time.sleep(0.5)

    def heal(self) -> None:
        """A link whose latest job failed (an injected permanent error) is re-synced, as an
        operator would once the provider is fixed: then every link's state can be checked."""
        latest: dict[int, dict[str, Any]] = {}
        for job in SyncJob.objects.order_by("id").values("id", "link_id", "status", "phone_id"):
            latest[job["link_id"]] = job
        by_pk = {p.pk: p for p in self.phones}
        self.api.phase = "heal"
        for job in latest.values():
            if job["status"] == SyncJobStatus.FAILED:
                phone = by_pk[job["phone_id"]]
                self.heal_calls.append(self.api.call("heal-resync", self.emails[0], "POST", f"{phone.path}/sync"))
        self.timeline.mark("healing re-syncs", calls=len(self.heal_calls))

    def execute(self) -> None:
        """The whole run; ``check`` afterwards."""
        started = time.time()
        try:
            self.start_stack()
            self.phase_seconds["start"] = time.time() - started
            with publishing_to(self.redis.url), self.server_log.attached():
                t = time.time()
                self.create_phones()
                self.link_phones()
                self.phase_seconds["setup"] = time.time() - t
                t = time.time()
                self.run_changes()
                self.phase_seconds["changes"] = time.time() - t
                t = time.time()
                self.sim.clear_faults()
                self.timeline.mark("faults cleared; waiting for convergence")
                self.open_after_wait = self.wait_converged(self.cfg.converge_seconds)
                self.timeline.mark(
                    "converged" if not self.open_after_wait else "NOT converged", open=len(self.open_after_wait)
                )
                if not self.open_after_wait:
                    self.heal()
                    self.open_after_wait = self.wait_converged(30)
                    self.timeline.mark("healed" if not self.open_after_wait else "NOT converged after healing")
                time.sleep(1.5)  # late callbacks, and any stray request, reach the logs
                self.phase_seconds["converge"] = time.time() - t
                self.collect()
        finally:
            self.collected["server_log"] = self.server_log.records
            if "requests" not in self.collected:  # the run broke off: keep what can be read
                try:
                    self.collect()
                except Exception as exc:
                    self.collected["collect_error"] = repr(exc)
            if self.stack is not None:
                self.collected["exited"] = [
                    {"pid": proc.pid, "returncode": proc.returncode, "log": str(log), "tail": log.read_text()[-3000:]}
                    for proc, log in self.stack.exited_by_themselves()
                ]
            self.stop_stack()
            self.phase_seconds["total"] = time.time() - started

    # -- collecting --------------------------------------------------------------------------

    def collect(self) -> None:
        job_fields = [f.attname for f in SyncJob._meta.concrete_fields]
        self.collected.update(
            jobs=list(SyncJob.objects.order_by("id").values(*job_fields)),
            links=list(
                ProviderLink.objects.order_by("id").values(
                    "id",
                    "phone_id",
                    "provider",
                    "remote_number",
                    "settings",
                    "linked",
                    "sync_state",
                    "last_error",
                    "pushed_settings",
                    "phone__e164",
                    "phone__active",
                )
            ),
            phones=list(
                Phone.objects.order_by("id").values("id", "account_id", "number", "e164", "type", "extension", "active")
            ),
            outcomes=list(
                AuditEntry.objects.filter(event__in=OUTCOME_EVENTS)
                .order_by("id")
                .values("id", "event", "phone_id", "operator_email", "origin", "payload")
            ),
            integrity=[str(problem) for problem in audit_verify()],
            requests=self.sim.requests(),
            callbacks=self.sim.callbacks(),
            numbers=self.sim.numbers(),
            remaining_faults=self.sim.faults(),
        )

    # -- the checks --------------------------------------------------------------------------

    def fail(self, prop: str, subject: str, detail: str) -> None:
        self.violations.append(Violation(prop, subject, detail))

    def check(self) -> list[Violation]:
        self.violations = []
        if self.open_after_wait:
            for job in self.open_after_wait:
                self.fail("convergence", f"job {job['id']}", json.dumps(job, default=_json_default))
        if "jobs" not in self.collected:
            self.fail("convergence", "run", "the run stopped before its results were collected")
            return self.violations
        self.check_api()
        self.check_committed()
        self.check_provider_state()
        self.check_requests()
        self.check_outcomes()
        self.check_audit()
        self.check_callbacks_and_processes()
        return self.violations

    def check_api(self) -> None:
        for call in self.api.calls:
            if not call.ok:
                self.fail("api", f"call #{call.index}", call.describe())

    def check_committed(self) -> None:
        links = {row["phone_id"]: row for row in self.collected["links"]}
        phones = {row["id"]: row for row in self.collected["phones"]}
        for model in self.phones:
            row = phones.get(model.pk)
            if row is None:
                self.fail("committed", f"phone {model.pk}", "missing from the database")
                continue
            want = {"e164": model.number.e164, "active": model.active, "type": model.type, "extension": model.extension}
            have = {key: row[key] for key in want}
            if want != have:
                self.fail("committed", f"phone {model.pk}", f"API accepted {want}, database holds {have}")
            link = links.get(model.pk)
            if model.link is None:
                if link is not None:
                    self.fail("committed", f"phone {model.pk}", f"has a link the API never made: {link}")
                continue
            if link is None:
                self.fail("committed", f"phone {model.pk}", "the API's link is missing from the database")
                continue
            want_link = {"provider": model.link.provider, "settings": model.link.settings, "linked": model.link.linked}
            have_link = {key: link[key] for key in want_link}
            if want_link != have_link:
                self.fail(
                    "committed", f"link of phone {model.pk}", f"API accepted {want_link}, database holds {have_link}"
                )

    def _jobs_by_target(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        by_target: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for job in self.collected["jobs"]:
            by_target[(job["provider"], job["number"])].append(job)
        return by_target

    def _history(self, jobs: list[dict[str, Any]], limit: int = 6) -> str:
        return ", ".join(
            f"#{j['id']} {j['reason']} {j['status']}{' ' + repr(j['last_error'][:80]) if j['last_error'] else ''}"
            for j in jobs[-limit:]
        )

    def check_provider_state(self) -> None:
        states = {(row["provider"], "+" + row["number"].lstrip("+")): row["state"] for row in self.collected["numbers"]}
        by_target = self._jobs_by_target()
        current: set[tuple[str, str]] = set()
        for link in self.collected["links"]:
            target = (link["provider"], link["remote_number"] or link["phone__e164"])
            state = states.get(target)
            subject = f"link {link['id']} (phone {link['phone_id']}) {target[0]} {target[1]}"
            history = self._history(by_target.get(target, []))
            if state is None:
                self.fail("provider-state", subject, "the simulator does not know the number")
                continue
            settings = link["settings"]
            if link["linked"]:
                current.add(target)
            if target[0] == SINCH:
                have = sinch_view(state)
                want = sinch_services(settings) if (link["linked"] and link["phone__active"]) else sinch_services({})
                if link["linked"]:
                    want |= {"display_name": settings.get("display_name"), "callback_url": settings.get("callback_url")}
                if have["provisioning_running"]:
                    self.fail(
                        "provider-state",
                        subject,
                        f"scheduled provisioning still running: {have['provisioning_running']}",
                    )
            else:
                have = plivo_view(state)
                want = {"app_id": settings.get("app_id") if (link["linked"] and link["phone__active"]) else None}
                if link["linked"]:
                    want["alias"] = settings.get("alias")
            wrong = {key: (value, have.get(key)) for key, value in want.items() if have.get(key) != value}
            if wrong:
                detail = "; ".join(f"{key}: want {w!r}, provider has {h!r}" for key, (w, h) in wrong.items())
                linked = "linked" if link["linked"] else "unlinked"
                active = "active" if link["phone__active"] else "inactive"
                self.fail("provider-state", subject, f"({linked}, phone {active}) {detail}; jobs: {history}")
        # Every number a job ever targeted that no link holds now gave up its services, unless its
        # last job failed by an injected permanent error (a release cannot be re-synced).
        for target, jobs in sorted(by_target.items()):
            if target in current:
                continue
            state = states.get(target)
            if state is None:
                self.fail("released", f"{target[0]} {target[1]}", "the simulator does not know the number")
                continue
            last = jobs[-1]
            if last["status"] == SyncJobStatus.FAILED and self._injected_failure(last):
                continue
            if target[0] == SINCH:
                view = sinch_view(state)
                services = {k: view[k] for k in ("sms_service_plan_id", "sms_campaign_id", "voice_target_id")}
                held = {k: v for k, v in services.items() if v}
                if view["provisioning_running"]:
                    held["provisioning"] = view["provisioning_running"]
            else:
                held = {k: v for k, v in plivo_view(state).items() if k == "app_id" and v}
            if held:
                self.fail("released", f"{target[0]} {target[1]}", f"still holds {held}; jobs: {self._history(jobs)}")

    def _injected_failure(self, job: dict[str, Any]) -> bool:
        return (job["last_status"] == 400 and INJECTED_400 in (job["last_error"] or "")) or (
            INJECTED_PROVISIONING_CODE in (job["last_error_codes"] or [])
        )

    def attributed_requests(self) -> list[Req]:
        reqs = []
        requests = self.collected["requests"]
        if requests and requests[-1]["id"] != len(requests):
            self.fail(
                "attribution",
                "request log",
                f"the simulator's log lost requests: {len(requests)} kept, the last has id {requests[-1]['id']}",
            )
        unattributed = []
        for r in requests:
            if r["provider"] not in PROVIDERS:
                continue
            headers = {key.lower(): value for key, value in (r.get("headers") or {}).items()}
            job, claim = headers.get(JOB_HEADER), headers.get(CLAIM_HEADER)
            if not job or not claim:
                unattributed.append(r)
                continue
            start = _epoch(r["timestamp"])
            digits = (r["number"] or "").lstrip("+")
            reqs.append(
                Req(
                    id=r["id"],
                    job=int(job),
                    claim=claim,
                    provider=r["provider"],
                    number=f"+{digits}",
                    method=r["method"],
                    status=r["status"],
                    fault=r.get("fault"),
                    start=start,
                    end=start + (r.get("duration_ms") or 0.0) / 1000,
                )
            )
        if unattributed and not reqs:
            self.fail(
                "attribution",
                "all requests",
                f"none of the {len(unattributed)} provider requests carries X-Sync-Job / X-Sync-Claim: "
                "properties push-after-success, older-after-newer and overlap cannot be checked",
            )
        else:
            for r in unattributed:
                self.fail(
                    "attribution", f"request {r['id']}", f"{r['method']} {r['path']} without X-Sync-Job/X-Sync-Claim"
                )
        return reqs

    def check_requests(self) -> None:
        reqs = self.attributed_requests()
        jobs = {job["id"]: job for job in self.collected["jobs"]}
        slack = self.cfg.clock_slack
        by_job: dict[int, list[Req]] = defaultdict(list)
        for r in reqs:
            by_job[r.job].append(r)
            job = jobs.get(r.job)
            if job is None:
                self.fail("attribution", f"request {r.id}", f"names job {r.job}, which does not exist")
            elif (job["provider"], job["number"]) != (r.provider, r.number):
                self.fail(
                    "attribution",
                    f"request {r.id}",
                    f"job {r.job} targets {job['provider']} {job['number']}: {r.describe()}",
                )
        # No push after a job succeeded.
        for job_id, rs in by_job.items():
            job = jobs.get(job_id)
            if job is None or job["status"] != SyncJobStatus.SYNCED or job["finished_at"] is None:
                continue
            finished = _epoch(job["finished_at"])
            for r in rs:
                if r.start > finished + slack:
                    self.fail(
                        "push-after-success",
                        f"job {job_id}",
                        f"synced at {_fmt_ts(finished)}, then {r.describe()} "
                        f"({(r.start - finished) * 1000:.0f} ms later)",
                    )
        # No older job wrote after a newer one of its link was claimed.
        has_first_claim = "first_claimed_at" in (self.collected["jobs"][0] if self.collected["jobs"] else {})
        if self.collected["jobs"] and not has_first_claim:
            self.fail("older-after-newer", "SyncJob", "SyncJob.first_claimed_at does not exist: cannot check")
        else:
            by_link: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for job in self.collected["jobs"]:
                by_link[job["link_id"]].append(job)
            for link_id, link_jobs in by_link.items():
                link_jobs.sort(key=lambda j: j["id"])
                # the earliest first claim among the jobs after each one
                later_first: list[tuple[float, int] | None] = [None] * len(link_jobs)
                best: tuple[float, int] | None = None
                for i in range(len(link_jobs) - 1, -1, -1):
                    later_first[i] = best
                    claimed = _epoch(link_jobs[i]["first_claimed_at"])
                    if claimed is not None and (best is None or claimed < best[0]):
                        best = (claimed, link_jobs[i]["id"])
                for i, job in enumerate(link_jobs):
                    if later_first[i] is None:
                        continue
                    claimed, newer = later_first[i]
                    for r in by_job.get(job["id"], []):
                        if r.applied_write and r.end > claimed + slack:
                            self.fail(
                                "older-after-newer",
                                f"job {job['id']} (link {link_id})",
                                f"newer job {newer} first claimed at {_fmt_ts(claimed)}, then {r.describe()} "
                                f"ended {(r.end - claimed) * 1000:.0f} ms later",
                            )
        # No two claims pushed one number at once (hung requests were never answered nor applied).
        by_number: dict[tuple[str, str], list[Req]] = defaultdict(list)
        for r in reqs:
            if not r.hung:
                by_number[(r.provider, r.number)].append(r)
        for (provider, number), rs in by_number.items():
            rs.sort(key=lambda r: r.start)
            active: list[Req] = []
            reported = 0
            for r in rs:
                active = [a for a in active if a.end > r.start + slack]
                for a in active:
                    if (a.job, a.claim) != (r.job, r.claim) and reported < 5:
                        reported += 1
                        self.fail(
                            "overlap",
                            f"{provider} {number}",
                            f"{a.describe()} overlaps {r.describe()} by {(a.end - r.start) * 1000:.0f} ms",
                        )
                active.append(r)

    def check_outcomes(self) -> None:
        for job in self.collected["jobs"]:
            if job["status"] not in FINAL_OK:
                continue  # reported by "convergence"
            if job["status"] == SyncJobStatus.FAILED and not self._injected_failure(job):
                self.fail(
                    "outcomes",
                    f"job {job['id']}",
                    f"{job['reason']} {job['provider']} {job['number']} failed after {job['attempts']} attempt(s), "
                    f"not by an injected error: status {job['last_status']}, {job['last_error']!r}, "
                    f"codes {job['last_error_codes']}",
                )

    def check_audit(self) -> None:
        calls = {call.request_id: call for call in self.api.calls}
        per_job: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for entry in self.collected["outcomes"]:
            job_id = ((entry["payload"] or {}).get("object") or {}).get("job_id")
            if job_id is None:
                self.fail("audit", f"entry {entry['id']}", f"{entry['event']} without a job_id in its payload object")
                continue
            per_job[job_id].append(entry)
        for job in self.collected["jobs"]:
            entries = per_job.get(job["id"], [])
            finished = job["status"] in (SyncJobStatus.SYNCED, SyncJobStatus.FAILED)
            want = 1 if finished else 0
            if len(entries) != want:
                self.fail(
                    "audit",
                    f"job {job['id']}",
                    f"{job['status']} job has {len(entries)} outcome entries (want {want}): "
                    + ", ".join(f"{e['id']} {e['event']}" for e in entries),
                )
            for entry in entries:
                if entry["operator_email"] != job["operator_email"]:
                    self.fail(
                        "audit",
                        f"job {job['id']}",
                        f"outcome entry {entry['id']} names {entry['operator_email']!r}, the job's operator is "
                        f"{job['operator_email']!r}",
                    )
            call = calls.get(job["request_id"])
            if call is None:
                self.fail("audit", f"job {job['id']}", f"request id {job['request_id']!r} is none of the API calls")
            elif call.operator != job["operator_email"]:
                self.fail(
                    "audit",
                    f"job {job['id']}",
                    f"caused by call #{call.index} of {call.operator!r}, the job names {job['operator_email']!r}",
                )
        for problem in self.collected["integrity"]:
            self.fail("audit", "audit_verify", problem)

    def check_callbacks_and_processes(self) -> None:
        for delivery in self.collected["callbacks"]:
            status = delivery.get("status")
            if status is None or status >= 500:
                event = delivery.get("event") or {}
                self.fail(
                    "callbacks",
                    f"{event.get('resourceId')} {event.get('eventType')} {event.get('status')}",
                    f"delivered at {delivery.get('delivered_at')}: status {status}, error {delivery.get('error')!r}",
                )
        for record in self.collected.get("server_log", []):
            if (
                record["logger"] == "phones.sync"
                and "sinch callback" in record["message"]
                and "not applied" in record["message"]
            ):
                self.fail("callbacks", "sinch callback", f"a database error answered 200: {record['message'][:300]}")
        for exited in self.collected.get("exited", []):
            self.fail(
                "processes",
                f"pid {exited['pid']}",
                f"exited by itself with {exited['returncode']} ({exited['log']}):\n{exited['tail']}",
            )

    # -- the report --------------------------------------------------------------------------

    def summary(self) -> str:
        jobs = self.collected.get("jobs", [])
        requests = self.collected.get("requests", [])
        callbacks = self.collected.get("callbacks", [])
        statuses = Counter(call.status for call in self.api.calls)
        phases = Counter(call.phase for call in self.api.calls)
        outage = [call for call in self.api.calls if call.phase == "broker-outage"]
        faults_hit = Counter(r.get("fault") for r in requests if r.get("fault"))
        stale = sum(log.read_text(errors="replace").count("'stale'") for log in self.logs.glob("worker-*.log"))
        kinds = Counter(f"{f['kind']}-{f['status']}" if f.get("status") else f["kind"] for f in self.injected)
        timing = []
        for phase in phases:
            times = sorted(call.elapsed for call in self.api.calls if call.phase == phase)
            p50, slowest = times[len(times) // 2], times[-1]
            timing.append(f"{phase} p50 {p50 * 1000:.0f} ms max {slowest * 1000:.0f} ms")
        lines = [
            f"chaos seed {self.cfg.seed}: {len(self.phones)} phones, {len(self.api.calls)} API calls "
            f"(statuses {dict(statuses)}; by phase {dict(phases)}; {len(outage)} during the broker outage)",
            f"jobs {len(jobs)}: {dict(Counter(j['status'] for j in jobs))}; "
            f"by reason {dict(Counter(j['reason'] for j in jobs))}",
            f"provider requests {len(requests)}; faults injected {len(self.injected)} "
            f"({dict(kinds)}); requests hit by a fault {dict(faults_hit)}; "
            f"deliveries that found their claim lost ('stale') {stale}",
            f"callbacks {len(callbacks)}: {dict(Counter(c.get('status') for c in callbacks))}",
            f"API call times: {'; '.join(timing)}",
            f"healing re-syncs {len(self.heal_calls)}; phases (s) "
            + ", ".join(f"{k} {v:.1f}" for k, v in self.phase_seconds.items()),
        ]
        return "\n".join(lines)

    def report(self, violations: list[Violation]) -> str:
        by_prop: dict[str, list[Violation]] = defaultdict(list)
        for v in violations:
            by_prop[v.prop].append(v)
        lines = [
            f"CHAOS FAILED (seed {self.cfg.seed}; replay with CHAOS_SEED={self.cfg.seed}): "
            f"{len(violations)} violation(s) of {len(by_prop)} propert{'y' if len(by_prop) == 1 else 'ies'}",
        ]
        for prop, items in by_prop.items():
            lines.append(
                f"\n[seed {self.cfg.seed}] property {prop!r} ({PROPERTY_TEXT.get(prop, '')}): {len(items)} violation(s)"
            )
            for v in items[:15]:
                lines.append(f"  - {v.subject}: {v.detail}")
            if len(items) > 15:
                lines.append(f"  ... and {len(items) - 15} more (see the report file)")
        lines.append("\n" + self.summary())
        return "\n".join(lines)

    def keep_output(self, violations: list[Violation], error: str = "") -> Path:
        """The evidence, under ``test-output/chaos-<seed>/``."""
        out = OUTPUT_ROOT / f"chaos-{self.cfg.seed}"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        full = [f"[seed {self.cfg.seed}] {v.prop}: {v.subject}: {v.detail}" for v in violations]
        (out / "report.txt").write_text(
            (error + "\n\n" if error else "")
            + self.report(violations)
            + "\n\nALL VIOLATIONS\n"
            + "\n".join(full)
            + "\n"
        )
        write_json(out / "config.json", asdict(self.cfg))
        write_json(out / "timeline.json", self.timeline.events)
        write_json(out / "faults.json", self.injected)
        write_json(out / "api_calls.json", [asdict(call) for call in self.api.calls])
        write_json(out / "violations.json", [asdict(v) for v in violations])
        names = {
            "requests": "sim_requests.json",
            "callbacks": "sim_callbacks.json",
            "numbers": "sim_numbers.json",
            "remaining_faults": "sim_faults_left.json",
            "jobs": "jobs.json",
            "links": "links.json",
            "phones": "phones.json",
            "outcomes": "audit_outcomes.json",
            "integrity": "audit_integrity.json",
            "exited": "exited_processes.json",
            "server_log": "api_server_log.json",
        }
        for key, name in names.items():
            if key in self.collected:
                write_json(out / name, self.collected[key])
        try:
            write_json(out / "attempts.json", list(SyncAttempt.objects.order_by("id").values()))
        except Exception as exc:  # the database may be what failed
            (out / "attempts.json").write_text(json.dumps({"error": repr(exc)}))
        if self.logs.exists():
            shutil.copytree(self.logs, out / "logs", ignore=shutil.ignore_patterns("beat-schedule*"))
        return out
