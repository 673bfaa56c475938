"""Gunicorn settings shared by the product and the reference endpoint (same server, fair ratios).

Overridable through the environment so that server settings can be compared in one place:
BENCH_WORKERS, BENCH_WORKER_CLASS (sync | gthread), BENCH_THREADS, BENCH_KEEPALIVE.
"""

import os

workers = int(os.environ.get("BENCH_WORKERS", "2"))
worker_class = os.environ.get("BENCH_WORKER_CLASS", "gthread")
threads = int(os.environ.get("BENCH_THREADS", "4"))
keepalive = int(os.environ.get("BENCH_KEEPALIVE", "30"))
backlog = 2048
timeout = 60
graceful_timeout = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
preload_app = False
