"""Server time and query count of the admin pages at scale, in-process with Django's test Client.

Median of N requests after one warm-up; the query count comes from ``CaptureQueriesContext``.
A page that does not exist (yet) is reported as "missing", not as a failure of the harness.
"""

from __future__ import annotations

import statistics
import time

STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def admin_pages(*, user, repeat: int) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from phones.models import Phone

    sample = Phone.objects.filter(active=True).order_by("?").only("id", "account_id", "number_digits")[:1]
    if not sample:
        return []
    phone = sample[0]
    # A phone with several audit entries, for the history pages.
    from audit.models import AuditEntry

    busy = (
        AuditEntry.objects.filter(event="phone_change").order_by("-id").values_list("phone_id", flat=True).first()
        or phone.pk
    )
    part = phone.number_digits[2:7]
    pages = [
        # The landing page: its charts group 30 days of entries and jobs (covering indexes).
        ("admin: dashboard", "/admin/"),
        ("admin: phones list", "/admin/phones/phone/"),
        ("admin: search part of number", f"/admin/phones/phone/?q={part}"),
        ("admin: filter by account", f"/admin/phones/phone/?account={phone.account_id}"),
        ("admin: audit list", "/admin/audit/auditentry/"),
        ("admin: phone page + history", f"/admin/phones/phone/{busy}/change/"),
        ("admin: audit of one phone", f"/admin/audit/auditentry/?phone={busy}"),
    ]
    results = []
    with override_settings(STORAGES=STATIC, SECURE_SSL_REDIRECT=False):
        client = Client()
        client.force_login(user)
        for name, url in pages:
            try:
                first = client.get(url)
            except Exception as exc:  # a page being written right now may crash: report it
                results.append({"name": name, "url": url, "status": "error", "error": repr(exc)[:300]})
                continue
            if first.status_code == 404 or (first.status_code == 302 and "login" not in first.get("Location", "")):
                results.append({"name": name, "url": url, "status": "missing", "http": first.status_code})
                continue
            if first.status_code != 200:
                results.append({"name": name, "url": url, "status": "error", "http": first.status_code})
                continue
            times, counts, slowest = [], [], []
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    response = client.get(url)
                    if hasattr(response, "render") and not response.is_rendered:
                        response.render()
                    times.append((time.perf_counter() - t0) * 1000)
                counts.append(len(ctx.captured_queries))
                slowest = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:3]
            results.append(
                {
                    "name": name,
                    "url": url,
                    "status": "ok",
                    "median_ms": round(statistics.median(times), 1),
                    "max_ms": round(max(times), 1),
                    "queries": max(counts),
                    "slowest_queries": [
                        {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:400]} for q in slowest
                    ],
                }
            )
    return results
