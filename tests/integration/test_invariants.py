"""The invariant checker: none after a clean simulation, and a planted violation of each
invariant is found, naming what breaks it."""

from __future__ import annotations

import pytest
from tests.support import Train

from receipts.application.invariants import Invariant, Violation, check_invariants
from receipts.application.ports.read_model import MetricRecord, ReadModelChanges
from receipts.bootstrap import Runtime
from receipts.domain.export_job import ExportJob
from receipts.domain.job import JobDraft
from receipts.entrypoints.simulation import simulate_lifecycles


def found(runtime: Runtime) -> list[Violation]:
    return check_invariants(runtime.catalog(), runtime.artifacts)


def one_export(runtime: Runtime) -> ExportJob:
    [job] = runtime.catalog().all()
    export = runtime.exports.auto_export_of(job.job_id)
    assert export is not None
    return export


@pytest.fixture
def simulated(any_runtime: Runtime) -> Runtime:
    """One clean lifecycle: a job that succeeds, its export, an OCR job."""
    report = simulate_lifecycles(any_runtime, 1, fail_rate=0.0, skip_rate=0.0)
    assert report.violations == []
    return any_runtime


def test_a_clean_simulation_holds_every_invariant(simulated: Runtime) -> None:
    assert found(simulated) == []


def test_an_unfinished_export_breaks_settled_and_one_export(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("no-worker-yet")
    export = one_export(any_runtime)
    any_runtime.exports.start_export(export.id, "a worker that died")

    assert found(any_runtime) == [
        Violation(Invariant.ONE_EXPORT, f"job {job_id}", "0 succeeded exports (running)"),
        Violation(Invariant.SETTLED, f"export {export.id}", "left running"),
    ]


def test_a_failed_export_of_a_succeeded_job_breaks_one_export(
    any_runtime: Runtime, train: Train
) -> None:
    job_id = train("export-failed")
    export = one_export(any_runtime)
    any_runtime.exports.start_export(export.id, "worker")
    any_runtime.exports.fail_export(export.id, "gave up")

    assert found(any_runtime) == [
        Violation(Invariant.ONE_EXPORT, f"job {job_id}", "0 succeeded exports (failed)")
    ]


def test_a_skipped_export_is_not_missing(any_runtime: Runtime, train: Train) -> None:
    train("skips", tags={"skip-coreml-export": "true"})

    assert found(any_runtime) == []


def test_a_job_left_running_breaks_settled_but_an_interrupted_one_is_resumable(
    any_runtime: Runtime,
) -> None:
    running = any_runtime.jobs.create_job(JobDraft(name="left-running"))
    any_runtime.jobs.start_job(running)
    interrupted = any_runtime.jobs.create_job(JobDraft(name="interrupted"))
    any_runtime.jobs.start_job(interrupted)
    any_runtime.jobs.interrupt_job(interrupted, None, "node lost")
    pending = any_runtime.jobs.create_job(JobDraft(name="never-started"))

    assert found(any_runtime) == [
        Violation(Invariant.SETTLED, f"job {running}", "left running"),
        Violation(Invariant.SETTLED, f"job {pending}", "left pending"),
    ]


def test_an_ocr_job_left_processing_breaks_settled(any_runtime: Runtime) -> None:
    ocr_id = any_runtime.ocr_jobs.submit(any_runtime.artifacts_uri("x.png"), ocr_engine="stub")
    any_runtime.ocr_jobs.start(ocr_id, "a worker that died")

    assert found(any_runtime) == [
        Violation(Invariant.SETTLED, f"OCR job {ocr_id}", "left processing")
    ]


@pytest.mark.parametrize("damage", ["missing", "partial", "left over"])
def test_a_damaged_bundle_breaks_published_whole(simulated: Runtime, damage: str) -> None:
    export = one_export(simulated)
    assert export.outcome is not None
    bundle, sizes = export.outcome.bundle_uri, export.outcome.file_sizes
    name = sorted(sizes)[0]
    if damage == "missing":
        simulated.artifacts.delete(bundle + name)
        expected = f"{name} missing"
    elif damage == "partial":
        simulated.artifacts.put_bytes(bundle + name, b"{")
        expected = f"{name} has 1 bytes, not {sizes[name]}"
    else:
        simulated.artifacts.put_bytes(bundle + "left-by-another-attempt.bin", b"")
        expected = "left-by-another-attempt.bin not in the bundle"

    assert found(simulated) == [
        Violation(Invariant.PUBLISHED_WHOLE, f"export {export.id}", expected)
    ]


@pytest.mark.parametrize("damage", ["missing", "partial"])
def test_a_damaged_ocr_result_breaks_published_whole(simulated: Runtime, damage: str) -> None:
    [record] = simulated.catalog().ocr_jobs_by_status("completed")
    uri = record.result_uris["ocr"]
    if damage == "missing":
        simulated.artifacts.delete(uri)
    else:
        simulated.artifacts.put_bytes(uri, b'{"words": [')

    assert found(simulated) == [
        Violation(
            Invariant.PUBLISHED_WHOLE, f"OCR job {record.ocr_job_id}", f"ocr result {uri} {damage}"
        )
    ]


def test_an_evaluation_recorded_twice_breaks_unique_metrics(simulated: Runtime) -> None:
    catalog = simulated.catalog()
    [job] = catalog.all()
    first = catalog.metrics(job.job_id)[0]
    # the JobMetric aggregate refuses a repeat: plant one in the read model, as a second
    # series or a faulty projection would show it
    read_model = catalog.read_model
    twice = ReadModelChanges(
        metrics=[MetricRecord(job_id=job.job_id, sequence=99, evaluation=first)]
    )
    read_model.apply(twice, simulated.jobs.name, read_model.position(simulated.jobs.name))

    assert found(simulated) == [
        Violation(
            Invariant.UNIQUE_METRICS,
            f"job {job.job_id}",
            f"epoch {first.epoch} step {first.global_step} 2 times",
        )
    ]
