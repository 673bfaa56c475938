"""Peak memory of the CSV export of every phone, run in its own process: ``python -m bench.export_probe``.

Streams ``phones.admin_export.stream_phones_csv`` over all phones (what the admin's export
view returns) into nowhere, and prints one JSON line: rows, bytes, seconds, RSS at start and the
peak (VmHWM). A streaming export keeps the peak flat whatever the table size.
"""

from __future__ import annotations

import json
import os
import sys
import time

from bench.common import proc_status_kb


def main() -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    django.setup()
    try:
        from phones.admin_export import stream_phones_csv
    except ImportError:
        print(json.dumps({"status": "missing"}))
        return 0
    from phones.models import Phone

    pid = os.getpid()
    Phone.objects.first()  # connection and imports warm: the baseline is the process at rest
    start = proc_status_kb(pid, "VmRSS")
    t0 = time.monotonic()
    response = stream_phones_csv(Phone.objects.all())
    rows = size = 0
    samples = []
    for chunk in response.streaming_content:
        rows += 1
        size += len(chunk)
        if rows % 100_000 == 0:
            samples.append((rows, proc_status_kb(pid, "VmRSS")))
    seconds = time.monotonic() - t0
    out = {
        "status": "ok",
        "rows": rows - 1,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rows_per_s": round((rows - 1) / seconds, 1),
        "rss_start_mb": round(start / 1024, 1),
        "peak_rss_mb": round(proc_status_kb(pid, "VmHWM") / 1024, 1),
        "rss_samples_mb": [(r, round(kb / 1024, 1)) for r, kb in samples],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
