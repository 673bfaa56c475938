"""Fast loader: N phones and 2N audit entries into the bench database with COPY.

Run as ``python -m bench.loader --phones 1000000`` (the harness does). The bench database must
be migrated and empty of phones. Secondary indexes are dropped during the COPY and rebuilt
afterwards (faster than maintaining them row by row); foreign-key triggers are skipped with
``session_replication_role = replica`` (ids are consistent by construction).

Entries are valid: payloads follow the contract (method, uri, email, roles, origin, object) and
each phone's entries form the same HMAC chain as ``audit.services`` writes, so
``manage.py audit_verify`` accepts them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

AREA_CODES = (11, 12, 13, 19, 21, 27, 31, 41, 47, 48, 51, 61, 62, 71, 81, 85, 91, 92)
TYPES = ("MOBILE", "MOBILE", "MOBILE", "RESIDENTIAL", "COMMERCIAL")
OPERATORS = (
    ("bench-crm-1@example.com", ["crm-operator"]),
    ("bench-crm-2@example.com", ["crm-operator"]),
    ("bench-bo-1@example.com", ["backoffice-operator"]),
    ("bench-bo-2@example.com", ["backoffice-operator"]),
    ("bench-master@example.com", ["itibackoffice-master"]),
)
PHONE_COLUMNS = (
    "id",
    "account_id",
    "customer_id",
    "number",
    "number_digits",
    "type",
    "area_code",
    "country_code",
    "extension",
    "active",
    "e164",
    "created_at",
    "updated_at",
)
AUDIT_COLUMNS = (
    "id",
    "event",
    "domain",
    "version",
    "payload",
    "changes",
    "phone_id",
    "account_id",
    "operator_id",
    "operator_email",
    "operator_roles",
    "origin",
    "request_id",
    "ip_address",
    "created_at",
    "prev_hash",
    "hash",
)


class Progress:
    """A progress bar on stderr (no dependency)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.start, self.last = label, total, time.monotonic(), 0.0
        self.finished = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if self.finished or (now - self.last < 0.25 and done < self.total):
            return
        self.last = now
        frac = done / self.total if self.total else 1
        bar = "#" * int(frac * 30)
        rate = done / max(now - self.start, 1e-9)
        sys.stderr.write(
            f"\r  {self.label:<18} [{bar:<30}] {frac:6.1%} {done:>9,}/{self.total:,}"
            f" {rate:>9,.0f}/s {now - self.start:6.1f}s"
        )
        if done >= self.total:
            self.finished = True
            sys.stderr.write("\n")
        sys.stderr.flush()


def phone_row(i: int, rng: random.Random, accounts: int, epoch: datetime) -> tuple:
    # 9 + 8 digits, a bijection of i: unique numbers (i < 10**8), so no active duplicate.
    local = (i * 7919 + 12345) % 10**8
    digits = f"9{local:08d}"
    number = f"{digits[:5]}-{digits[5:]}" if i % 3 == 0 else digits
    area = AREA_CODES[i % len(AREA_CODES)]
    created = epoch + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
    return (
        i,
        rng.randrange(1, accounts + 1),
        rng.randrange(1, 10**9) if rng.random() < 0.7 else None,
        number,
        digits,
        TYPES[i % len(TYPES)],
        area,
        55,
        str(rng.randrange(1, 999)) if rng.random() < 0.05 else None,
        rng.random() < 0.92,
        f"+55{area}{digits}",
        created,
        created,
    )


def audit_object(row: tuple) -> dict:
    _, account_id, customer_id, number, _, type_, area, cc, extension, active, *_ = row
    return {
        "account_id": account_id,
        "customer_id": customer_id,
        "area_code": str(area),
        "number": number,
        "type": type_,
        "extension": extension,
        "active": active,
        "country_code": str(cc),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phones", type=int, default=1_000_000)
    parser.add_argument("--audit-per-phone", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    django.setup()
    import psycopg
    from django.conf import settings

    from backoffice.services import operator_upsert

    operators = []
    for email, roles in OPERATORS:
        user, _ = operator_upsert(email=email, roles=roles, password=None, full_name="Bench operator")
        operators.append((user.pk, email, sorted(roles)))

    db = settings.DATABASES["default"]
    conninfo = f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"
    n = args.phones
    n_audit = int(n * args.audit_per_phone)
    accounts = max(1, n * 3 // 10)  # ~3.3 phones per account
    t0 = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM phones_phone)").fetchone()[0]:
            print("bench database already holds phones: load skipped", file=sys.stderr)
            return 0
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        saved = {}
        for table in ("phones_phone", "audit_auditentry"):
            rows = conn.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                (table,),
            ).fetchall()
            saved[table] = rows
            for name, _ in rows:
                conn.execute(f'DROP INDEX "{name}"')

        # Entries written before the load (the operators above are created with an access event
        # each) keep their ids: the loaded ones follow them.
        base = conn.execute("SELECT COALESCE(max(id), 0) FROM audit_auditentry").fetchone()[0]
        ctx = mp.get_context("fork")
        done = ctx.Array("q", [0] * (2 * args.workers))
        jobs = [
            ctx.Process(
                target=load_part,
                args=(w, args.workers, n, n_audit, accounts, args.seed, conninfo, operators, done, base),
            )
            for w in range(args.workers)
        ]
        for job in jobs:
            job.start()
        bar_p, bar_a = Progress("phones (COPY)", n), Progress("audit (COPY)", n_audit)
        while any(job.is_alive() for job in jobs):
            time.sleep(0.3)
            phones_done = sum(done[2 * w] for w in range(args.workers))
            if phones_done < n:
                bar_p.update(phones_done)
            else:
                if not bar_p.finished:
                    bar_p.update(n)
                bar_a.update(sum(done[2 * w + 1] for w in range(args.workers)))
        if any(job.exitcode for job in jobs):
            raise SystemExit("a loader process failed")
        bar_p.update(n)
        bar_a.update(n_audit)

        indexes = [(table, name, sql) for table, rows in saved.items() for name, sql in rows]
        progress = Progress("indexes", len(indexes))
        for done, (_, _, sql) in enumerate(indexes, 1):
            conn.execute(sql)
            progress.update(done)
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute("SELECT setval(pg_get_serial_sequence('phones_phone', 'id'), (SELECT max(id) FROM phones_phone))")
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('audit_auditentry', 'id'), (SELECT max(id) FROM audit_auditentry))"
        )
        conn.execute("VACUUM ANALYZE phones_phone")
        conn.execute("VACUUM ANALYZE audit_auditentry")
    print(f"  loaded {n:,} phones and {n_audit:,} audit entries in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return 0


def load_part(
    w: int,
    workers: int,
    n: int,
    n_audit: int,
    accounts: int,
    seed: int,
    conninfo: str,
    operators: list,
    done,
    base: int = 0,
) -> None:
    """Worker ``w`` of ``workers``: the phones with ``id % workers == w`` and all their entries.

    Audit ids are ``base + j * workers + w + 1`` for the worker's j-th entry (``base``: the last id
    written before the load): creation entries first,
    so every phone's chain follows increasing ids.
    """
    import psycopg

    from audit.events import build_payload
    from audit.services import entry_digest

    rng = random.Random(seed * 1000 + w)
    epoch = datetime(2022, 1, 1, tzinfo=UTC)
    ids = range(w + 1, n + 1, workers)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        phones = [phone_row(i, rng, accounts, epoch) for i in ids]
        mine = len(range(w + 1, n_audit + 1, workers))
        # Change entries (after the creations) set the extension; the loaded phone holds the
        # last one, so each phone equals its latest audited state.
        picks = [rng.randrange(len(phones)) for _ in range(max(0, mine - len(phones)))]
        final_ext = {idx: str((base + (len(phones) + j) * workers + w + 1) % 1000) for j, idx in enumerate(picks)}
        with conn.cursor() as cur, cur.copy(f"COPY phones_phone ({', '.join(PHONE_COLUMNS)}) FROM STDIN") as copy:
            for count, row in enumerate(phones, 1):
                if count - 1 in final_ext:
                    row = (*row[:8], final_ext[count - 1], *row[9:])
                copy.write_row(row)
                if count % 2000 == 0:
                    done[2 * w] = count
        done[2 * w] = len(phones)
        current_ext = {}
        heads: dict[int, str] = {}
        sql = f"COPY audit_auditentry ({', '.join(AUDIT_COLUMNS)}) FROM STDIN"
        with conn.cursor() as cur, cur.copy(sql) as copy:
            for j in range(mine):
                entry_id = base + j * workers + w + 1
                if j < len(phones):
                    row = phones[j]
                    event = "phone_creation"
                    obj = audit_object(row)
                    changes = {key: [None, value] for key, value in obj.items() if key != "account_id"}
                    created = row[11]
                else:
                    idx = picks[j - len(phones)]
                    row = phones[idx]
                    event = "phone_change"
                    obj = audit_object(row)
                    old_ext = current_ext.get(idx, row[8])
                    obj["extension"] = current_ext[idx] = str(entry_id % 1000)
                    changes = {"extension": [old_ext, obj["extension"]]}
                    created = row[11] + timedelta(seconds=rng.randrange(60, 86400 * 90))
                op_id, email, roles = operators[entry_id % len(operators)]
                payload = build_payload(event=event, email=email, roles=roles, origin="CRM", obj=obj)
                phone_id = row[0]
                request_id = f"{entry_id:032x}"
                prev = heads.get(phone_id, "")
                digest = entry_digest(
                    prev_hash=prev,
                    event=event,
                    phone_id=phone_id,
                    account_id=row[1],
                    operator_id=op_id,
                    operator_email=email,
                    operator_roles=roles,
                    origin="CRM",
                    request_id=request_id,
                    ip_address="10.0.0.7",
                    created_at=created,
                    payload=payload,
                    changes=changes,
                )
                heads[phone_id] = digest
                copy.write_row(
                    (
                        entry_id,
                        event,
                        "audit",
                        1,
                        json.dumps(payload),
                        json.dumps(changes),
                        phone_id,
                        row[1],
                        op_id,
                        email,
                        json.dumps(roles),
                        "CRM",
                        request_id,
                        "10.0.0.7",
                        created,
                        prev,
                        digest,
                    )
                )
                if j % 2000 == 0:
                    done[2 * w + 1] = j
        done[2 * w + 1] = mine


if __name__ == "__main__":
    sys.exit(main())
