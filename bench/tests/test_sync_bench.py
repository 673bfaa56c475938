"""The sync bench's arithmetic: slices of a phase added together, and their summary."""

from __future__ import annotations

from bench.sync_bench import _Samples


def _slice(latencies: list[float], *, first_commit: float, alone: int) -> _Samples:
    return _Samples(
        changes=len(latencies),
        synced=len(latencies),
        to_provider=list(latencies),
        to_synced=[ms + 1 for ms in latencies],
        seconds=10.0,
        jobs=len(latencies),
        alone=alone,
        cpu_seconds=2.0,
        commit_seconds=5.0,
        kept=[(first_commit + i, ms, f"key{first_commit + i:.0f}") for i, ms in enumerate(latencies)],
    )


def test_slices_of_a_phase_are_measured_as_one():
    # The latency phases alternate between the sides (product, reference, reference, product):
    # each side's percentiles are over all its changes, not an average of its slices' figures.
    early = _slice([1.0] * 97 + [50.0] * 3, first_commit=0, alone=100)
    late = _slice([3.0] * 100, first_commit=1000, alone=50)
    both = early + late

    summary = both.summary(product=True)

    assert summary["changes"] == summary["synced"] == 200 and summary["not_synced"] == 0
    assert summary["provider_p50_ms"] == 3.0  # 97 changes at 1 ms, 100 at 3 ms, 3 at 50 ms
    assert summary["provider_p99_ms"] == 50.0  # from the early slice's three slow changes
    assert summary["synced_p50_ms"] == 4.0
    assert summary["changes_per_s"] == 10.0  # 200 synced over 2 x 10 s
    assert summary["claimed_alone_pct"] == 75.0
    assert summary["cpu_ms_per_change"] == 20.0  # 4 s of CPU for 200 changes
    assert summary["commits_per_s"] == 20.0
    # The slices themselves are left as they were.
    assert early.changes == 100 and len(early.kept) == 100


def test_the_reference_summary_has_no_product_rows(tmp_path):
    samples = _slice([2.0, 1.0], first_commit=5, alone=0)
    summary = samples.summary(product=False)
    assert "not_synced" not in summary and "claimed_alone_pct" not in summary

    samples.keep(tmp_path / "latency.tsv")
    # In commit order: commit time, commit -> POST, key.
    assert (tmp_path / "latency.tsv").read_text() == "5.000000\t2.000\tkey5\n6.000000\t1.000\tkey6\n"


def test_a_phase_without_committers_has_no_rate_rows():
    # The burst commits in one transaction: no commit span, no CPU per change.
    burst = _Samples(changes=3, synced=3, to_provider=[1.0, 2.0, 3.0], to_synced=[2.0, 3.0, 4.0], seconds=1.5)
    summary = burst.summary(product=True)
    assert "cpu_ms_per_change" not in summary and "commits_per_s" not in summary
    assert summary["changes_per_s"] == 2.0


def test_the_warm_up_makes_a_real_change(db):
    # A warm-up that changed nothing left the committer's first measured change to open its
    # broker connection and load the job tables (80-90 ms of CPU): it must change the phone.
    from bench.sync_bench import WARM_UP_CHANGES, _warm_up
    from phones.tests.factories import PhoneFactory

    runs: list[list[str]] = []
    for held in ("1", "42", None):
        runs.append([])
        _warm_up(PhoneFactory(extension=held).pk, runs[-1].append)

    # Enough changes for every statement to reach its kept plan (psycopg prepares at the 5th run,
    # PostgreSQL keeps a generic plan after five custom ones), each a real change of the one before.
    assert WARM_UP_CHANGES > 10
    assert [run[:3] for run in runs] == [["2", "1", "2"], ["1", "2", "1"], ["1", "2", "1"]]
    assert all(len(run) == WARM_UP_CHANGES for run in runs)


def test_a_paced_committer_stays_after_its_last_change(transactional_db, make_operator, monkeypatch):
    # Four committers exiting together (interpreter teardown, their backends' end) took CPU while
    # the slice's last changes were on their way: a paced committer lingers before it exits.
    import time

    from bench import sync_bench
    from phones.tests.factories import PhoneFactory

    monkeypatch.setattr(sync_bench, "LINGER_SECONDS", 0.4)
    operator = make_operator("backoffice-operator")
    phone = PhoneFactory(extension="1")
    start = time.time()
    committed = sync_bench._commit_changes(operator.pk, [(phone.account_id, phone.pk)], "7", start, 0.05)
    assert time.time() - committed[phone.pk] >= 0.4
    # As fast as it goes (closed loop, no rate to keep): no linger.
    second = PhoneFactory(extension="1")
    before = time.time()
    sync_bench._commit_changes(operator.pk, [(second.account_id, second.pk)], "8", None, 0.0)
    assert time.time() - before < 0.4


def test_the_machine_load_row_is_the_cpu_per_change_at_the_rate_over_the_cores():
    # 19 ms of machine CPU per change at 100 changes/s on 2 cores: 1.9 of the 2 cores.
    from bench.run import build_rows, machine_load

    assert machine_load(19.0, 100.0, 2) == 95.0
    assert machine_load(14.0, 100.0, 2) == 70.0
    side = {"changes": 10, "synced": 10, "changes_per_s": 100.0, "provider_p50_ms": 1.0, "provider_p99_ms": 2.0}
    paced = {**side, "not_synced": 0, "claimed_alone_pct": 90.0, "cpu_ms_per_change": 19.0, "commits_per_s": 100.0}
    ref_paced = {**side, "cpu_ms_per_change": 14.0, "commits_per_s": 100.0}
    burst = {**side, "not_synced": 0, "synced_p99_ms": 3.0}
    sync = {"product": burst, "reference": burst, "product_paced": paced, "reference_paced": ref_paced, "cores": 2}

    rows = {row["figure"]: row for row in build_rows({"sync": sync})}

    load = rows["sync at 100/s machine load %"]
    assert (load["product"], load["reference"]) == (95.0, 70.0)
    # No core count recorded (results of an earlier harness): no load row.
    earlier = build_rows({"sync": {**sync, "cores": None}})
    assert "sync at 100/s machine load %" not in {row["figure"] for row in earlier}
