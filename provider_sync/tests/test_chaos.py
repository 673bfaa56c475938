"""Chaos test of the provider sync: "no committed change is ever lost or overwritten by an older
one, whatever the broker, the workers and the providers do."

A few hundred API changes over ~100 phones linked at Sinch and Plivo, made over HTTP while the
provider simulator answers with random faults (5xx, 429 with Retry-After, latency, hangs past
the timeout, a few 400s and failed Sinch provisionings), one worker is SIGKILLed and restarted,
the broker (this run's own ``redis-server``) is stopped for a few seconds and started again,
and one provider turns slower than the lease. Then the faults go, the jobs must all end, and the
properties of ``provider_sync/tests/chaos/`` are checked (the provider holds every link's
desired state; no push after success; no older job writes after a newer one of its link was
claimed; no two claims push one number at once; outcomes and their audit entries; callbacks;
processes).

Seeded: ``CHAOS_SEED=<n>`` replays a run (default: a random seed, printed). Select it with
``-m chaos``. On failure the report names each broken property with its job or number and the
seed, and the evidence is kept under ``test-output/chaos-<seed>/``. Knobs: ``CHAOS_PHONES``,
``CHAOS_OPS``, ``CHAOS_LEASE_SECONDS``, ``CHAOS_SLOW_LATENCY_MS``, ``CHAOS_CONVERGE_SECONDS``,
``CHAOS_CLOCK_SLACK_MS``, ``CHAOS_KEEP_OUTPUT=1`` (keep the evidence of a passing run too).
"""

from __future__ import annotations

import shutil
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from provider_sync.tests import chaos
from simulator.server import ProviderSimulator, make_simulator

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def redis_server() -> str:
    """The ``redis-server`` binary: the run starts (and stops) a server of its own."""
    path = shutil.which("redis-server")
    if path is None:
        if chaos.CI:
            pytest.fail("CI=true but redis-server is not installed: the chaos test starts its own", pytrace=False)
        pytest.skip("redis-server is not installed (the chaos test starts its own)")
    return path


@pytest.fixture
def chaos_simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderSimulator]:
    """A simulator of the run's own whose request log keeps every request (the default keeps the
    last 5,000): the properties are checked on the whole log."""
    monkeypatch.setattr("simulator.server.MAX_LOG", 1_000_000)
    sim = make_simulator("127.0.0.1", 0, provisioning_seconds=0.3).start()
    yield sim
    sim.stop()


def test_no_committed_change_is_lost_under_chaos(
    redis_server: str,
    chaos_simulator: ProviderSimulator,
    live_server: Any,
    make_operator: Any,
    tmp_path: Any,
    settings: Any,
) -> None:
    # The links' callback URL is the live server on loopback, called by the simulator.
    settings.PROVIDER_SIMULATOR = True
    cfg = chaos.ChaosConfig.from_env()
    # The API commits with the workers' timings, as one deployment's processes share settings: a
    # change's claim at commit takes its lease from them.
    for name, value in cfg.worker_settings().items():
        setattr(settings, name, value)
    print(f"chaos seed {cfg.seed} (replay with CHAOS_SEED={cfg.seed}); config {cfg}", flush=True)
    operators = {
        "chaos.operator@bank.example": make_operator("backoffice-operator", email="chaos.operator@bank.example"),
        "chaos.master@bank.example": make_operator("itibackoffice-master", email="chaos.master@bank.example"),
    }
    run = chaos.ChaosRun(
        cfg,
        redis_binary=redis_server,
        sim_url=chaos_simulator.base_url,
        api_url=live_server.url,
        operators=operators,
        workdir=tmp_path,
    )
    error = ""
    try:
        run.execute()
    except Exception:
        error = f"[seed {cfg.seed}] the chaos run itself failed:\n{traceback.format_exc()}"
    violations = run.check()
    print(run.summary(), flush=True)
    if error or violations or cfg.keep_output:
        out = run.keep_output(violations, error)
        print(f"[seed {cfg.seed}] evidence kept in {out}", flush=True)
    if error:
        pytest.fail(f"{error}\n{run.report(violations) if violations else run.summary()}", pytrace=False)
    if violations:
        pytest.fail(run.report(violations), pytrace=False)
