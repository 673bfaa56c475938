"""Reference for the provider sync: a bare Celery task making the same HTTP calls as the Plivo
adapter (GET the number, POST the changed fields, GET again) with one shared httpx client per
worker process. No database, no claim, no audit: the floor of "a task that calls the provider".
"""

from __future__ import annotations

import os
import time

import httpx
import redis
from celery import Celery

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
BASE_URL = os.environ.get("PLIVO_BASE_URL", "http://127.0.0.1:8765").rstrip("/")
AUTH_ID = os.environ.get("PLIVO_AUTH_ID", "MASIMULATOR000000001")
AUTH_TOKEN = os.environ.get("PLIVO_AUTH_TOKEN", "sim-plivo-token")
DONE_KEY = "bench:refsync:done"

app = Celery("bench_reference", broker=BROKER)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="bench-reference",
)

_client: httpx.Client | None = None
_redis: redis.Redis | None = None


def client() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(auth=(AUTH_ID, AUTH_TOKEN), timeout=10.0, headers={"Accept": "application/json"})
    return _client


@app.task(name="bench.reference.push")
def push(digits: str, body: dict, committed_at: float) -> None:
    global _redis
    url = f"{BASE_URL}/v1/Account/{AUTH_ID}/Number/{digits}/"
    http = client()
    http.get(url).raise_for_status()
    http.post(url, json=body).raise_for_status()
    http.get(url).raise_for_status()
    if _redis is None:
        _redis = redis.Redis.from_url(BROKER)
    _redis.rpush(DONE_KEY, f"{digits} {committed_at} {time.time()}")
