"""The Jobs application wired by bootstrap: jobs, names, the catalog and running training."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from tests.support import quick_config, results_for

from receipts.application.ports.training_backend import (
    TrainingCancelled,
    TrainingFailed,
    TrainingInterrupted,
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime
from receipts.bootstrap.training import simulated_backend
from receipts.domain.errors import (
    DuplicateJobName,
    IllegalTransition,
    InvalidInput,
    JobNotFound,
)
from receipts.domain.job import Job, JobDraft, JobResults, JobStatus
from receipts.domain.job_metric import Evaluation

S = JobStatus


def evaluation(epoch: int, f1: float = 0.8) -> Evaluation:
    return Evaluation(epoch=epoch, global_step=epoch * 100, f1=f1, precision=f1, recall=f1)


def event_types(runtime: Runtime, job_id: UUID) -> list[type[Any]]:
    return [type(e) for e in runtime.jobs.repository.event_store.get(job_id)]


class FailingBackend:
    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        reporter.evaluation(evaluation(1))
        raise self.error


class InterruptedBackend:
    """Trains one epoch, then stops on a signal after saving a checkpoint."""

    name = "interrupted"
    checkpoint = "memory://receipts/runs/resumable/checkpoint-100/"

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        reporter.evaluation(evaluation(1))
        raise TrainingInterrupted(self.checkpoint, "spot instance reclaimed")


class RecordingBackend:
    """Wraps a backend and remembers the specs it was given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.specs: list[TrainingSpec] = []

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        self.specs.append(spec)
        result: JobResults = self.inner.train(spec, reporter)
        return result


class CancelledMidwayBackend:
    """A user cancels the job after the first epoch; the trainer notices and stops."""

    name = "cancelled-midway"

    def __init__(self, runtime: Runtime, obey: bool = True) -> None:
        self.runtime = runtime
        self.obey = obey
        self.epochs = 0

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        for epoch in range(1, 4):
            if reporter.cancelled():
                if self.obey:
                    raise TrainingCancelled
                break
            self.epochs = epoch
            reporter.evaluation(evaluation(epoch))
            if epoch == 1:
                self.runtime.jobs.cancel_job(spec.job_id, "wrong dataset")
        return results_for(self.runtime, spec.job_name)


# --- creating and finding -------------------------------------------------------------


def test_a_created_job_is_pending_and_found_by_id_and_by_name(runtime: Runtime) -> None:
    jobs = runtime.jobs

    job_id = jobs.create_job(JobDraft(name="invoices-v1", priority="high", tags={"team": "ocr"}))

    job = jobs.get_job(job_id)
    assert (job.name, job.status, job.draft.priority, job.tags) == (
        "invoices-v1",
        S.PENDING,
        "high",
        {"team": "ocr"},
    )
    assert jobs.get_job_by_name("invoices-v1").id == job_id
    assert jobs.find_job("invoices-v1").id == job_id
    assert jobs.find_job(str(job_id)).id == job_id
    assert jobs.find_job(job_id).id == job_id


def test_a_second_job_with_the_same_name_is_refused_and_writes_nothing(runtime: Runtime) -> None:
    jobs = runtime.jobs
    first = jobs.create_job(JobDraft(name="invoices-v1"))
    before = jobs.recorder.max_notification_id()

    with pytest.raises(DuplicateJobName, match="invoices-v1"):
        jobs.create_job(JobDraft(name="invoices-v1", description="again"))

    assert jobs.recorder.max_notification_id() == before
    assert jobs.get_job_by_name("invoices-v1").id == first


@pytest.mark.parametrize("lookup", ["get_job", "find_job"])
def test_an_unknown_id_is_job_not_found(runtime: Runtime, lookup: str) -> None:
    unknown = uuid4()
    with pytest.raises(JobNotFound, match=str(unknown)):
        getattr(runtime.jobs, lookup)(unknown)


@pytest.mark.parametrize("lookup", ["get_job_by_name", "find_job"])
def test_an_unknown_name_is_job_not_found(runtime: Runtime, lookup: str) -> None:
    with pytest.raises(JobNotFound, match="nobody"):
        getattr(runtime.jobs, lookup)("nobody")


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"name": "has spaces"}, ["name"]),
        ({"name": "ok", "priority": "urgent"}, ["priority"]),
        (
            {"name": "ok", "config": {"hyperparameters": {"learning_rate": -1, "batch_size": 0}}},
            ["config.hyperparameters.batch_size", "config.hyperparameters.learning_rate"],
        ),
        (
            {"name": "-bad", "config": {"data": {"allowed_labels": ["AMOUNT"]}}},
            ["config.data", "name"],
        ),
    ],
)
def test_invalid_input_is_refused_naming_each_field_and_writes_nothing(
    runtime: Runtime, fields: dict[str, Any], bad: list[str]
) -> None:
    jobs = runtime.jobs
    jobs.create_job(JobDraft(name="existing"))
    before = jobs.recorder.max_notification_id()

    with pytest.raises(InvalidInput) as refused:
        jobs.create_job(JobDraft.parse(fields))

    assert refused.value.what == "job"
    assert sorted(p.split(":", 1)[0] for p in refused.value.problems) == bad
    assert jobs.recorder.max_notification_id() == before


# --- the catalog ------------------------------------------------------------------------


def test_the_catalog_answers_the_seeds_queries(runtime: Runtime) -> None:
    jobs = runtime.jobs
    waiting = jobs.create_job(JobDraft(name="waiting"))
    training = jobs.create_job(JobDraft(name="training"))
    broken = jobs.create_job(JobDraft(name="broken"))
    first, second = (
        jobs.create_job(JobDraft(name="first")),
        jobs.create_job(JobDraft(name="second")),
    )
    jobs.start_job(training)
    jobs.fail_job(broken, "no data")
    for job_id, name in ((first, "first"), (second, "second")):
        jobs.start_job(job_id)
        jobs.succeed_job(job_id, results_for(runtime, name))
    catalog = runtime.catalog()

    assert [s.name for s in catalog.all()] == ["waiting", "training", "broken", "first", "second"]
    assert [s.job_id for s in catalog.by_status(S.PENDING)] == [waiting]
    assert [s.name for s in catalog.by_status("running")] == ["training"]
    (failed,) = catalog.by_status(S.FAILED)
    assert (failed.job_id, failed.status_reason) == (broken, "no data")
    assert [s.name for s in catalog.by_status(S.SUCCEEDED)] == ["first", "second"]
    latest = catalog.latest_by_status(S.SUCCEEDED)
    assert latest is not None and latest.job_id == second
    assert catalog.latest_by_status(S.CANCELLED) is None
    by_name = catalog.by_name("first")
    assert (by_name.status, by_name.best_f1) == (S.SUCCEEDED, 0.9)
    assert by_name.best_checkpoint_uri == results_for(runtime, "first").best_checkpoint_uri


def test_the_catalog_catches_up_with_later_changes(runtime: Runtime) -> None:
    catalog = runtime.catalog()
    job_id = runtime.jobs.create_job(JobDraft(name="later"))
    assert catalog.by_name("later").status is S.PENDING

    runtime.jobs.cancel_job(job_id, "not needed")

    summary = catalog.by_name("later")
    assert (summary.status, summary.status_reason) == (S.CANCELLED, "not needed")
    assert summary.updated_at > summary.created_at


def test_the_catalog_does_not_know_an_unknown_name(runtime: Runtime) -> None:
    with pytest.raises(JobNotFound):
        runtime.catalog().by_name("nobody")


# --- evaluations and logs ---------------------------------------------------------------


def test_evaluations_and_logs_of_a_job(runtime: Runtime) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="metrics"))
    assert jobs.evaluations_of(job_id) == []
    assert jobs.logs_of(job_id) == []

    assert jobs.record_evaluation(job_id, evaluation(1)) is True
    assert jobs.record_evaluation(job_id, evaluation(1)) is False
    assert jobs.record_evaluation(job_id, evaluation(2)) is True

    assert [e.epoch for e in jobs.evaluations_of(job_id)] == [1, 2]


def test_evaluations_and_logs_of_an_unknown_job_are_job_not_found(runtime: Runtime) -> None:
    unknown = uuid4()
    with pytest.raises(JobNotFound):
        runtime.jobs.evaluations_of(unknown)
    with pytest.raises(JobNotFound):
        runtime.jobs.logs_of(unknown)
    with pytest.raises(JobNotFound):
        runtime.jobs.record_evaluation(unknown, evaluation(1))


# --- running training -------------------------------------------------------------------


def test_simulated_training_succeeds_with_its_logs_and_one_evaluation_per_epoch(
    runtime: Runtime,
) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="simulated", config=quick_config(epochs=3)))

    status = run_training(jobs, job_id, simulated_backend(runtime))

    job = jobs.get_job(job_id)
    assert status is S.SUCCEEDED
    assert job.status is S.SUCCEEDED
    assert job.results is not None and job.results.epochs_run == 3
    assert [e.epoch for e in jobs.evaluations_of(job_id)] == [1, 2, 3]
    kinds = [entry.kind for entry in jobs.logs_of(job_id)]
    assert kinds.count("run_config") == 1
    assert kinds.count("run_summary") == 1
    (summary,) = [e for e in jobs.logs_of(job_id) if e.kind == "run_summary"]
    assert summary.data["status"] == "succeeded"
    assert summary.data["best_f1"] == job.results.best_f1
    assert event_types(runtime, job_id) == [Job.Created, Job.Started, Job.Succeeded]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TrainingFailed("CUDA out of memory"), "CUDA out of memory"),
        (RuntimeError("disk vanished"), "RuntimeError: disk vanished"),
        (KeyError("B-TIP"), "KeyError: 'B-TIP'"),
    ],
)
def test_a_backend_that_raises_ends_the_job_failed_with_the_reason(
    runtime: Runtime, error: Exception, reason: str
) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="doomed"))

    status = run_training(jobs, job_id, FailingBackend(error))

    job = jobs.get_job(job_id)
    assert status is S.FAILED
    assert (job.status, job.status_reason) == (S.FAILED, reason)
    (summary,) = [e for e in jobs.logs_of(job_id) if e.kind == "run_summary"]
    assert (summary.level, summary.data["status"], summary.data["reason"]) == (
        "error",
        "failed",
        reason,
    )


def test_an_interrupted_run_resumes_and_succeeds(runtime: Runtime) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="resumable", config=quick_config(epochs=3)))

    assert run_training(jobs, job_id, InterruptedBackend()) is S.INTERRUPTED
    job = jobs.get_job(job_id)
    assert (job.status, job.status_reason) == (S.INTERRUPTED, "spot instance reclaimed")
    assert job.resume_checkpoint_uri == InterruptedBackend.checkpoint

    backend = RecordingBackend(simulated_backend(runtime))
    assert run_training(jobs, job_id, backend) is S.SUCCEEDED

    assert backend.specs[0].resume_from_uri == InterruptedBackend.checkpoint
    assert jobs.get_job(job_id).attempts == 2
    assert event_types(runtime, job_id) == [
        Job.Created,
        Job.Started,
        Job.Interrupted,
        Job.Resumed,
        Job.Succeeded,
    ]
    resumed = list(runtime.jobs.repository.event_store.get(job_id))[3]
    assert isinstance(resumed, Job.Resumed)
    assert resumed.from_checkpoint_uri == InterruptedBackend.checkpoint
    assert [e.epoch for e in jobs.evaluations_of(job_id)] == [1, 2, 3]


def test_a_job_cancelled_while_it_trains_ends_cancelled(runtime: Runtime) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="cancel-me"))
    backend = CancelledMidwayBackend(runtime)

    status = run_training(jobs, job_id, backend)

    job = jobs.get_job(job_id)
    assert status is S.CANCELLED
    assert (job.status, job.status_reason) == (S.CANCELLED, "wrong dataset")
    assert backend.epochs == 1
    assert len(jobs.evaluations_of(job_id)) == 1
    assert runtime.exports.auto_export_of(job_id) is None


def test_results_of_a_job_cancelled_meanwhile_are_not_recorded(runtime: Runtime) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="cancel-me-too"))

    status = run_training(jobs, job_id, CancelledMidwayBackend(runtime, obey=False))

    assert status is S.CANCELLED
    assert jobs.get_job(job_id).status is S.CANCELLED
    assert jobs.get_job(job_id).results is None
    assert runtime.exports.auto_export_of(job_id) is None


def test_a_finished_job_cannot_be_trained_again(runtime: Runtime) -> None:
    jobs = runtime.jobs
    job_id = jobs.create_job(JobDraft(name="done", config=quick_config()))
    run_training(jobs, job_id, simulated_backend(runtime))

    with pytest.raises(IllegalTransition, match="cannot start: it is succeeded"):
        run_training(jobs, job_id, simulated_backend(runtime))
