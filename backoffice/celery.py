import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# kombu's filesystem transport (local run) needs its folders; publishing fails without them.
for _key in ("data_folder_in", "data_folder_out", "processed_folder"):
    _folder = (app.conf.broker_transport_options or {}).get(_key)
    if _folder:
        Path(_folder).mkdir(parents=True, exist_ok=True)
