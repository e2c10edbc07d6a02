"""What a backend or a worker reports, recorded by the applications' use cases (the
Lambdas only parse and call them): training statuses, export and OCR results, and a
concurrent save decided again on the state it left."""

from __future__ import annotations

from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError
from tests.support import quick_config, results_for

from receipts.application.event_sourcing.conflicts import retry_on_conflict
from receipts.bootstrap import Runtime
from receipts.domain.export_job import ExportOutcome, ExportRequest, ExportStatus
from receipts.domain.job import JobDraft, JobStatus
from receipts.domain.ocr_job import OCROutcome, OCRStatus
from receipts.domain.quantization import Quantization


def test_a_conflict_is_decided_again_and_the_last_attempt_raises() -> None:
    calls: list[int] = []

    def wins_on(attempt: int) -> object:
        def action() -> int:
            calls.append(attempt)
            if len(calls) < attempt:
                raise IntegrityError("another save won")
            return len(calls)

        return action

    assert retry_on_conflict(wins_on(3)) == 3  # type: ignore[arg-type]
    calls.clear()
    with pytest.raises(IntegrityError):
        retry_on_conflict(wins_on(5), attempts=2)  # type: ignore[arg-type]
    assert len(calls) == 2


def job(runtime: Runtime, name: str) -> UUID:
    return runtime.jobs.create_job(JobDraft(name=name, config=quick_config()))


@pytest.mark.parametrize(
    ("status", "applied", "ends"),
    [
        ("Failed", "failed", JobStatus.FAILED),
        ("Stopped", "cancelled", JobStatus.CANCELLED),
        ("InProgress", "started", JobStatus.RUNNING),
        ("Stopping", "ignored", JobStatus.PENDING),
    ],
)
def test_training_statuses_move_a_pending_job(
    runtime: Runtime, status: str, applied: str, ends: JobStatus
) -> None:
    job_id = job(runtime, f"sm-{status.lower()}")

    assert runtime.jobs.apply_training_status(job_id, status, reason="spot") == applied  # type: ignore[arg-type]

    found = runtime.jobs.get_job(job_id)
    assert found.status is ends
    if ends in (JobStatus.FAILED, JobStatus.CANCELLED):
        assert found.status_reason == "spot"


def test_completed_starts_and_succeeds_a_pending_job_once(runtime: Runtime) -> None:
    job_id = job(runtime, "sm-completed")
    results = results_for(runtime, "sm-completed")

    first = runtime.jobs.apply_training_status(job_id, "Completed", results=results)
    again = runtime.jobs.apply_training_status(job_id, "Failed", reason="late")

    assert (first, again) == ("succeeded", "unchanged")
    assert runtime.jobs.get_job(job_id).status is JobStatus.SUCCEEDED
    with pytest.raises(ValueError, match="needs its results"):
        runtime.jobs.apply_training_status(job(runtime, "sm-bare"), "Completed")


def test_an_export_result_succeeds_a_queued_export_and_a_late_one_changes_nothing(
    runtime: Runtime,
) -> None:
    request = ExportRequest(
        source_job_id=UUID(int=1),
        source_job_name="j",
        checkpoint_uri="memory://b/runs/j/best/",
        quantization=Quantization.FLOAT16,
        output_prefix="memory://b/exports/j/",
    )
    export_id = runtime.exports.request_export(request)
    outcome = ExportOutcome(bundle_uri="memory://b/exports/j/coreml/float16/", total_bytes=7)

    first = runtime.exports.record_result(export_id, outcome, "", worker="results-queue")
    late = runtime.exports.record_result(export_id, None, "disk full", worker="results-queue")

    assert (first, late) == ("succeeded", "unchanged")
    export = runtime.exports.get_export(export_id)
    assert export.status is ExportStatus.SUCCEEDED and export.outcome == outcome


def test_an_ocr_result_fails_or_completes_a_pending_job(runtime: Runtime) -> None:
    failing = runtime.ocr_jobs.submit("memory://b/raw-receipts/1.png")
    completing = runtime.ocr_jobs.submit("memory://b/raw-receipts/2.png")
    outcome = OCROutcome(word_count=3, routing="auto_accept", result_uris={})

    assert runtime.ocr_jobs.record_result(failing, None, "dark", worker="q") == "failed"
    assert runtime.ocr_jobs.record_result(completing, outcome, "", worker="q") == "completed"
    assert runtime.ocr_jobs.get_ocr_job(failing).status is OCRStatus.FAILED
    assert runtime.ocr_jobs.get_ocr_job(completing).status is OCRStatus.COMPLETED
