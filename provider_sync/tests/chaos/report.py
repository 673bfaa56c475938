"""The run's records: violations, the API server's log, the requests, the timeline; JSON output."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

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
    "paths": "both delivery paths ran: pushes on a claim taken at commit, and the workers' own claims",
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
