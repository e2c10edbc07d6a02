"""`receipts simulate --faults`: the harness injects every kind of fault into the real
workers, always reaches quiescence, and (the property) no plan of faults breaks an invariant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receipts.adapters.simulated.faults import FaultKind, Faults
from receipts.bootstrap import Runtime, bootstrap
from receipts.entrypoints.simulation import DEFAULT_FAULT_RATES, simulate_lifecycles
from receipts.settings import Settings


@pytest.fixture
def memory() -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory"))
    yield runtime
    runtime.close()


def test_every_kind_of_fault_is_injected_and_the_queues_end_empty(any_runtime: Runtime) -> None:
    rates = dict.fromkeys(FaultKind, 0.05) | {FaultKind.POISON: 1.0, FaultKind.REORDER: 1.0}
    faults = Faults(rates, seed=4)

    report = simulate_lifecycles(any_runtime, 24, faults=faults)

    assert set(report.faults) == {kind.value for kind in FaultKind}
    assert sum(report.crash_points.values()) == report.faults["crash"]
    assert any(point.startswith("trainer:") for point in report.crash_points)
    assert any(point.startswith("export:") for point in report.crash_points)
    assert any(point.startswith("ocr:") for point in report.crash_points)
    queues = any_runtime.queues
    assert queues.export_jobs.approximate_count() == 0
    assert queues.ocr_jobs.approximate_count() == 0
    # poison bodies (sent to a lane drawn at random) went round to a DLQ
    assert report.ocr_statuses["poison"] + report.export_statuses["poison"] >= 1
    dead = sum(q.approximate_count() for q in queues.dead_letters.values())
    assert dead >= report.faults["poison"]


def test_without_faults_nothing_is_injected_and_every_invariant_holds(memory: Runtime) -> None:
    report = simulate_lifecycles(memory, 10, seed=2)

    assert report.faults == {} and report.violations == []
    assert sum(report.job_statuses.values()) == 10


def test_a_worker_that_dies_leaves_its_message_for_the_next() -> None:
    """A worker dies mid-job: the harness starts another, the message it held comes back, and
    a second attempt completes the job. Where a worker dies varies from run to run (the
    points reached depend on the ids drawn), so a few runs are given the chance to show it."""
    for seed in range(12):
        runtime = bootstrap(Settings(mode="memory"))
        try:
            faults = Faults({FaultKind.CRASH: 0.1}, seed=seed)
            simulate_lifecycles(runtime, 8, fail_rate=0.0, skip_rate=0.0, faults=faults)
            completed = runtime.catalog().ocr_jobs_by_status("completed")
        finally:
            runtime.close()
        if any(record.attempts >= 2 for record in completed):
            return
    pytest.fail("no OCR job was completed by a second attempt in 12 faulted runs")


rates = st.fixed_dictionaries(
    {kind: st.sampled_from([0.0, DEFAULT_FAULT_RATES[kind], 0.1]) for kind in FaultKind}
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rates=rates, seed=st.integers(0, 2**32 - 1), jobs=st.integers(1, 16))
def test_no_plan_of_faults_breaks_an_invariant(
    rates: dict[FaultKind, float], seed: int, jobs: int
) -> None:
    runtime = bootstrap(Settings(mode="memory", max_receive_count=3))
    try:
        report = simulate_lifecycles(runtime, jobs, seed=seed, faults=Faults(rates, seed=seed))
    finally:
        runtime.close()

    assert [str(v) for v in report.violations] == []
