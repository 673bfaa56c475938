import gc
import os
from pathlib import Path

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# kombu's filesystem transport (local run) needs its folders; publishing fails without them.
for _key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
    _folder = (app.conf.broker_transport_options or {}).get(_key)
    if _folder:
        Path(_folder).mkdir(parents=True, exist_ok=True)

# Celery's Django fix-up closes every database connection before and after each task unless
# CELERY_DB_REUSE_MAX is set: a new PostgreSQL connection per task (~10 ms, more than a sync job's
# whole bookkeeping). Connections follow Django's own policy instead, as web requests do:
# CONN_MAX_AGE, CONN_HEALTH_CHECKS, and closed when a task left them unusable.
app.conf.CELERY_DB_REUSE_MAX = 2**31


@signals.task_prerun.connect
@signals.task_postrun.connect
def _django_connection_policy(**_: object) -> None:
    close_old_connections()


@signals.worker_init.connect
@signals.worker_process_init.connect
def _freeze_startup_objects(**_: object) -> None:
    """Move what the worker made at start-up (Django, the apps, the tasks' modules) out of the
    garbage collector's sight: it lives as long as the process, and every full collection walked
    all of it. Measured in the sync bench's worker processes at 100 changes/s: full collections
    of 150-190 ms, during which the process's jobs waited, and after the freeze 1-46 ms. In the
    worker before it forks its pool (the children share what it froze) and in each child after
    its own start (``backoffice/tests/test_celery.py``)."""
    gc.collect()
    gc.freeze()
