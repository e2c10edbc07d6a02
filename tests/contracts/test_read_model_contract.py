"""Contract tests every JobReadModel adapter must pass: the seeds' queries through JobCatalog.

The applications run in memory; only the read model changes (in memory, DynamoDB on moto).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from receipts.adapters.memory.read_model import InMemoryJobReadModel
from receipts.application.ports.read_model import JobReadModel, ReadModelChanges
from receipts.application.training.job_views import JobCatalog
from receipts.bootstrap import Runtime, bootstrap
from receipts.domain.errors import JobNotFound
from receipts.domain.export_job import ExportOutcome, ExportRequest, ExportStatus
from receipts.domain.job import JobDraft, JobResults, JobStatus
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation
from receipts.domain.ocr_job import OCROutcome, OCRStatus, RoutingDecision
from receipts.settings import Settings

S = JobStatus
T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.aws)])
def read_model(request: pytest.FixtureRequest) -> JobReadModel:
    if request.param == "memory":
        return InMemoryJobReadModel()
    request.getfixturevalue("aws_env")
    from receipts.adapters.dynamodb.job_read_model import DynamoDBJobReadModel

    model = DynamoDBJobReadModel(request.getfixturevalue("unique_name"))
    model.create_table()
    return model


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def catalog(runtime: Runtime, read_model: JobReadModel) -> JobCatalog:
    return JobCatalog(runtime.jobs, read_model, exports=runtime.exports, ocr_jobs=runtime.ocr_jobs)


def results(name: str, f1: float = 0.9) -> JobResults:
    return JobResults(
        best_checkpoint_uri=f"memory://receipts/runs/{name}/best/",
        best_f1=f1,
        best_epoch=1,
        epochs_run=2,
    )


def evaluation(epoch: int, f1: float, at: datetime) -> Evaluation:
    return Evaluation(
        epoch=epoch, global_step=10 * epoch, f1=f1, precision=f1, recall=f1, timestamp=at
    )


def answers(catalog: JobCatalog, job_ids: list[UUID]) -> list[Any]:
    """Everything the queries say about some jobs: equal answers mean an equal read model."""
    return [
        catalog.all(),
        [catalog.by_status(status) for status in S],
        [catalog.latest_by_status(status) for status in S],
        [(catalog.metrics(j), catalog.logs(j), catalog.exports_of(j)) for j in job_ids],
        [catalog.ocr_jobs_by_status(status) for status in OCRStatus],
    ]


def test_jobs_by_status_by_name_and_latest(runtime: Runtime, catalog: JobCatalog) -> None:
    jobs = runtime.jobs
    waiting = jobs.create_job(JobDraft(name="waiting", description="queued", tags={"team": "ml"}))
    training = jobs.create_job(JobDraft(name="training"))
    broken = jobs.create_job(JobDraft(name="broken"))
    first, second = (
        jobs.create_job(JobDraft(name="first")),
        jobs.create_job(JobDraft(name="second")),
    )
    jobs.start_job(training)
    jobs.fail_job(broken, "no data")
    for job_id, name in ((second, "second"), (first, "first")):
        jobs.start_job(job_id)
        jobs.succeed_job(job_id, results(name))

    assert [s.name for s in catalog.all()] == ["waiting", "training", "broken", "first", "second"]
    assert [s.job_id for s in catalog.by_status(S.PENDING)] == [waiting]
    assert [s.name for s in catalog.by_status("running")] == ["training"]
    (failed,) = catalog.by_status(S.FAILED)
    assert (failed.job_id, failed.status_reason) == (broken, "no data")
    # oldest first by creation; the latest is the one that succeeded last
    assert [s.name for s in catalog.by_status(S.SUCCEEDED)] == ["first", "second"]
    latest = catalog.latest_by_status(S.SUCCEEDED)
    assert latest is not None and latest.job_id == first
    assert catalog.latest_by_status(S.CANCELLED) is None
    by_name = catalog.by_name("second")
    assert (by_name.job_id, by_name.status, by_name.best_f1) == (second, S.SUCCEEDED, 0.9)
    assert by_name.best_checkpoint_uri == "memory://receipts/runs/second/best/"
    pending = catalog.by_name("waiting")
    assert (pending.description, pending.tags, pending.created_by) == (
        "queued",
        {"team": "ml"},
        "unknown",
    )
    assert pending.config == jobs.get_job(waiting).config
    with pytest.raises(JobNotFound, match="nobody"):
        catalog.by_name("nobody")


def test_the_catalog_catches_up_with_later_changes(runtime: Runtime, catalog: JobCatalog) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name="later"))
    assert catalog.by_name("later").status is S.PENDING

    runtime.jobs.cancel_job(job_id, "not needed")

    summary = catalog.by_name("later")
    assert (summary.status, summary.status_reason) == (S.CANCELLED, "not needed")
    assert summary.updated_at > summary.created_at
    assert catalog.by_status(S.PENDING) == []


def test_metrics_come_in_time_order_and_logs_in_order(
    runtime: Runtime, catalog: JobCatalog
) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="metered"))
    other = jobs.create_job(JobDraft(name="other"))
    # a whole second, then half a second later: string order of plain isoformat() gets it wrong
    moments = [T0, T0 + timedelta(microseconds=500_000), T0 + timedelta(seconds=1)]
    for epoch, (f1, at) in enumerate(zip((0.5, 0.7, 0.6), moments, strict=True), start=1):
        jobs.record_evaluation(job_id, evaluation(epoch, f1, at))
    jobs.record_evaluation(other, evaluation(1, 0.1, T0))
    jobs.append_log(job_id, LogEntry(kind="run_config", message="config", timestamp=T0))
    # two entries with one timestamp keep the order they were logged in
    jobs.append_log(job_id, LogEntry(message="epoch 1", data={"loss": 0.5}, timestamp=moments[1]))
    jobs.append_log(job_id, LogEntry(message="epoch 2", level="warning", timestamp=moments[1]))

    metrics = catalog.metrics(job_id)
    logs = catalog.logs(job_id)

    assert [(m.epoch, m.f1) for m in metrics] == [(1, 0.5), (2, 0.7), (3, 0.6)]
    assert metrics == jobs.evaluations_of(job_id)
    assert [m.timestamp for m in metrics] == moments
    assert logs == jobs.logs_of(job_id)
    assert [entry.message for entry in logs] == ["config", "epoch 1", "epoch 2"]
    assert [m.f1 for m in catalog.metrics(other)] == [0.1]
    assert catalog.logs(other) == []


def test_export_records_by_id_and_by_source_job(runtime: Runtime, catalog: JobCatalog) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="exported"))
    jobs.start_job(job_id)
    jobs.succeed_job(job_id, results("exported"))
    auto = runtime.exports.auto_export_of(job_id)
    assert auto is not None
    manual = runtime.exports.request_export(
        ExportRequest(
            checkpoint_uri="memory://receipts/other/best/",
            output_prefix="memory://receipts/other/coreml/",
        )
    )

    queued = catalog.export(auto.id)
    assert queued is not None
    assert (queued.status, queued.source_job_id, queued.source_job_name) == (
        ExportStatus.QUEUED,
        job_id,
        "exported",
    )
    assert queued.checkpoint_uri == "memory://receipts/runs/exported/best/"

    runtime.exports.start_export(auto.id, "mac-1")
    runtime.exports.complete_export(
        auto.id, ExportOutcome(bundle_uri="memory://receipts/b/", total_bytes=123)
    )
    runtime.exports.start_export(manual, "mac-2")
    runtime.exports.fail_export(manual, "coremltools crashed")

    done = catalog.export(auto.id)
    assert done is not None
    assert (done.status, done.attempts, done.worker) == (ExportStatus.SUCCEEDED, 1, "mac-1")
    assert (done.bundle_uri, done.total_bytes) == ("memory://receipts/b/", 123)
    assert catalog.exports_of(job_id) == [done]
    failed = catalog.export(manual)
    assert failed is not None and (failed.status, failed.error) == (
        ExportStatus.FAILED,
        "coremltools crashed",
    )
    assert failed.source_job_id is None
    assert catalog.export(UUID(int=1)) is None
    assert catalog.exports_of(UUID(int=1)) == []


def test_ocr_job_records_by_id_and_by_status(runtime: Runtime, catalog: JobCatalog) -> None:
    ocr = runtime.ocr_jobs
    first = ocr.submit("s3://raw/1.png", submitted_by="upload")
    second = ocr.submit("s3://raw/2.png")
    third = ocr.submit("s3://raw/3.png")
    ocr.start(second, "mac-1")
    ocr.complete(second, OCROutcome(word_count=42, routing=RoutingDecision.AUTO_ACCEPT))
    ocr.start(third, "mac-2")

    assert [r.ocr_job_id for r in catalog.ocr_jobs_by_status(OCRStatus.PENDING)] == [first]
    assert [r.ocr_job_id for r in catalog.ocr_jobs_by_status("processing")] == [third]
    done = catalog.ocr_job(second)
    assert done is not None
    assert (done.status, done.word_count, done.routing) == (
        OCRStatus.COMPLETED,
        42,
        RoutingDecision.AUTO_ACCEPT,
    )
    pending = catalog.ocr_job(first)
    assert pending is not None and (pending.image_uri, pending.submitted_by) == (
        "s3://raw/1.png",
        "upload",
    )
    assert catalog.ocr_job(UUID(int=2)) is None

    ocr.start(first, "mac-1")
    assert catalog.ocr_jobs_by_status(OCRStatus.PENDING) == []


class ForgetfulPosition:
    """A read model whose stream positions read as 0: as if every write of the position had
    been lost in a crash, so the projection replays every notification it already applied."""

    def __init__(self, inner: JobReadModel) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def position(self, stream: str) -> int:
        return 0


def test_replaying_notifications_changes_nothing(
    runtime: Runtime, catalog: JobCatalog, read_model: JobReadModel
) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="replayed"))
    jobs.start_job(job_id)
    jobs.record_evaluation(job_id, evaluation(1, 0.4, T0))
    jobs.append_log(job_id, LogEntry(message="hello", timestamp=T0))
    jobs.succeed_job(job_id, results("replayed"))
    ocr_id = runtime.ocr_jobs.submit("s3://raw/1.png")
    runtime.ocr_jobs.start(ocr_id, "mac")
    before = answers(catalog, [job_id])
    positions = [read_model.position(s) for s in ("Jobs", "Exports", "OCRJobs")]
    assert all(p > 0 for p in positions)

    replaying = JobCatalog(
        jobs,
        ForgetfulPosition(read_model),
        exports=runtime.exports,
        ocr_jobs=runtime.ocr_jobs,
    )
    replaying.catch_up()
    replaying.catch_up()

    assert answers(catalog, [job_id]) == before
    assert [read_model.position(s) for s in ("Jobs", "Exports", "OCRJobs")] == positions


def test_an_older_record_never_replaces_a_newer_one(
    runtime: Runtime, catalog: JobCatalog, read_model: JobReadModel
) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name="raced"))
    runtime.jobs.start_job(job_id)
    current = catalog.by_name("raced")
    stale = current.model_copy(update={"status": S.PENDING, "position": current.position - 1})

    # a slower projector writes what it computed from an older notification
    read_model.apply(ReadModelChanges(jobs={job_id: stale}), "Jobs", 1)

    assert catalog.by_name("raced") == current
    assert [s.job_id for s in catalog.by_status(S.RUNNING)] == [job_id]
    assert catalog.by_status(S.PENDING) == []
    assert read_model.position("Jobs") == current.position


def test_a_new_projector_finds_the_job_of_a_metric_it_did_not_see_created(
    runtime: Runtime, catalog: JobCatalog, read_model: JobReadModel
) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="resumed-elsewhere"))
    jobs.record_evaluation(job_id, evaluation(1, 0.3, T0))
    jobs.append_log(job_id, LogEntry(message="first", timestamp=T0))
    catalog.catch_up()
    jobs.record_evaluation(job_id, evaluation(2, 0.6, T0 + timedelta(seconds=1)))
    jobs.append_log(job_id, LogEntry(message="second", timestamp=T0 + timedelta(seconds=1)))

    # another process: its projector starts from the stored position, after the Created events
    later = JobCatalog(jobs, read_model, exports=runtime.exports, ocr_jobs=runtime.ocr_jobs)

    assert [m.f1 for m in later.metrics(job_id)] == [0.3, 0.6]
    assert [entry.message for entry in later.logs(job_id)] == ["first", "second"]


class LaggingNameIndex(ForgetfulPosition):
    """A read model whose name index has not caught up yet (a GSI is eventually consistent)."""

    def position(self, stream: str) -> int:
        return int(self.inner.position(stream))

    def by_name(self, name: str) -> None:
        return None


def test_a_job_is_found_by_name_while_the_name_index_lags(
    runtime: Runtime, read_model: JobReadModel
) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name="just-created"))
    lagging = JobCatalog(runtime.jobs, LaggingNameIndex(read_model))

    assert lagging.by_name("just-created").job_id == job_id
    with pytest.raises(JobNotFound, match="nobody"):
        lagging.by_name("nobody")
