"""A trainer's lease, the sweep that ends jobs whose trainer died, and fenced attempt ends,
on a fake clock (nothing here waits for time to pass).

A trainer "killed" here raises a BaseException that run_training does not catch, so the
job is left running with its lease exactly as a SIGKILL leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from tests.support import quick_config

from receipts.application.ports.training_backend import TrainingReporter, TrainingSpec
from receipts.application.training.leases import LeaseHeld, LeaseTerms, interrupt, sweep
from receipts.application.training.run_training import JobReporter, run_training
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.training import simulated_backend
from receipts.domain.errors import IllegalTransition, StaleAttempt
from receipts.domain.job import JobDraft, JobResults, JobStatus
from receipts.settings import Settings

S = JobStatus
T0 = datetime(2025, 1, 1, tzinfo=UTC)
LEASE = 300.0
CHECKPOINT_1 = "memory://receipts/runs/leased/checkpoint-10/"
CHECKPOINT_2 = "memory://receipts/runs/leased/checkpoint-20/"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Killed(BaseException):
    """What a SIGKILL does to run_training: nothing after it runs."""


class DyingBackend:
    """Records `checkpoints` as written (as the torch trainer does), then dies."""

    name = "dying"

    def __init__(self, *checkpoints: str) -> None:
        self.checkpoints = checkpoints
        self.specs: list[TrainingSpec] = []

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        self.specs.append(spec)
        for uri in self.checkpoints:
            reporter.checkpoint(uri)
        raise Killed


@pytest.fixture
def clock() -> Clock:
    return Clock()


def terms(clock: Clock, holder: str = "node-1:4242") -> LeaseTerms:
    return LeaseTerms(seconds=LEASE, holder=holder, clock=clock)


def killed_job(runtime: Runtime, clock: Clock, *checkpoints: str, name: str = "leased") -> UUID:
    job_id = runtime.jobs.create_job(JobDraft(name=name, config=quick_config()))
    with pytest.raises(Killed):
        run_training(runtime.jobs, job_id, DyingBackend(*checkpoints), lease=terms(clock))
    assert runtime.jobs.get_job(job_id).status is S.RUNNING
    return job_id


def test_an_attempt_starts_with_a_lease_in_the_same_save(runtime: Runtime, clock: Clock) -> None:
    job_id = killed_job(runtime, clock)

    lease = runtime.jobs.lease_of(job_id)
    assert lease is not None
    assert (lease.attempt, lease.holder) == (1, "node-1:4242")
    assert lease.expires_at == T0 + timedelta(seconds=LEASE)
    topics = [n.topic for n in runtime.jobs.recorder.select_notifications(start=1, limit=10)]
    # one save: Started and the lease's first renewal are recorded together
    assert [t.rsplit(".", 1)[-1] for t in topics[2:5]] == ["Started", "Created", "Renewed"]
    assert topics[3].endswith("JobLease.Created")


def test_a_live_lease_is_left_alone(runtime: Runtime, clock: Clock) -> None:
    job_id = killed_job(runtime, clock, CHECKPOINT_1)

    [recovery] = sweep(runtime.jobs, [job_id], now=clock.advance(LEASE - 1))

    assert recovery.outcome == "live"
    assert "node-1:4242" in recovery.detail
    assert runtime.jobs.get_job(job_id).status is S.RUNNING


def test_an_expired_lease_ends_the_job_interrupted_at_its_last_checkpoint_and_it_resumes(
    runtime: Runtime, clock: Clock
) -> None:
    job_id = killed_job(runtime, clock, CHECKPOINT_1, CHECKPOINT_2)

    [recovery] = sweep(runtime.jobs, [job_id], now=clock.advance(LEASE + 1))

    job = runtime.jobs.get_job(job_id)
    assert recovery.outcome == "interrupted"
    assert recovery.checkpoint_uri == CHECKPOINT_2
    assert job.status is S.INTERRUPTED
    assert job.resume_checkpoint_uri == CHECKPOINT_2
    assert "node-1:4242" in (job.status_reason or "")
    assert "receipts train --resume leased" in recovery.detail
    backend = simulated_backend(runtime)
    resumed = run_training(runtime.jobs, job_id, backend, lease=terms(clock, "node-2:1"))
    assert resumed is S.SUCCEEDED
    assert runtime.jobs.get_job(job_id).attempts == 2


def test_the_resumed_attempt_resumes_from_the_swept_checkpoint(
    runtime: Runtime, clock: Clock
) -> None:
    job_id = killed_job(runtime, clock, CHECKPOINT_1)
    sweep(runtime.jobs, [job_id], now=clock.advance(LEASE + 1))
    backend = DyingBackend()

    with pytest.raises(Killed):
        run_training(runtime.jobs, job_id, backend, lease=terms(clock))

    assert backend.specs[0].resume_from_uri == CHECKPOINT_1
    # the new attempt's lease starts at the checkpoint it resumed from
    [recovery] = sweep(runtime.jobs, [job_id], now=clock.advance(LEASE + 1))
    assert (recovery.outcome, recovery.checkpoint_uri) == ("interrupted", CHECKPOINT_1)


def test_an_expired_lease_without_a_checkpoint_fails_the_job_with_the_reason(
    runtime: Runtime, clock: Clock
) -> None:
    job_id = killed_job(runtime, clock)

    [recovery] = sweep(runtime.jobs, [job_id], now=clock.advance(LEASE + 1))

    job = runtime.jobs.get_job(job_id)
    assert recovery.outcome == "failed"
    assert job.status is S.FAILED
    assert "before its first whole checkpoint" in (job.status_reason or "")


def test_renewals_keep_the_lease_live_and_keep_the_checkpoint(
    runtime: Runtime, clock: Clock
) -> None:
    job_id = killed_job(runtime, clock, CHECKPOINT_1)
    for _ in range(3):
        clock.advance(LEASE - 10)
        runtime.jobs.renew_lease(job_id, 1, "node-1:4242", clock(), LEASE)

    [recovery] = sweep(runtime.jobs, [job_id], now=clock.advance(LEASE - 10))
    lease = runtime.jobs.lease_of(job_id)

    assert recovery.outcome == "live"
    assert lease is not None and lease.checkpoint_uri == CHECKPOINT_1


def test_jobs_not_running_and_running_jobs_without_a_lease_are_left_alone(
    runtime: Runtime, clock: Clock
) -> None:
    pending = runtime.jobs.create_job(JobDraft(name="pending"))
    launched = runtime.jobs.create_job(JobDraft(name="launched"))
    runtime.jobs.start_job(launched)  # as the SageMaker launcher does: no lease yet

    recoveries = sweep(runtime.jobs, [pending, launched], now=clock.advance(10 * LEASE))

    assert [r.outcome for r in recoveries] == ["ended", "untracked"]
    assert runtime.jobs.get_job(launched).status is S.RUNNING


def test_interrupt_refuses_a_live_lease_unless_forced(runtime: Runtime, clock: Clock) -> None:
    job_id = killed_job(runtime, clock, CHECKPOINT_1)

    with pytest.raises(LeaseHeld, match="node-1:4242"):
        interrupt(runtime.jobs, job_id, now=clock())
    assert runtime.jobs.get_job(job_id).status is S.RUNNING
    recovery = interrupt(runtime.jobs, job_id, force=True, reason="node drained", now=clock())

    job = runtime.jobs.get_job(job_id)
    assert recovery.outcome == "interrupted"
    assert (job.status, job.resume_checkpoint_uri) == (S.INTERRUPTED, CHECKPOINT_1)
    assert job.status_reason == "node drained"
    with pytest.raises(IllegalTransition, match="interrupted"):
        interrupt(runtime.jobs, job_id, force=True)


def test_interrupt_ends_a_job_whose_lease_expired_or_that_has_none(
    runtime: Runtime, clock: Clock
) -> None:
    expired = killed_job(runtime, clock, CHECKPOINT_1)
    launched = runtime.jobs.create_job(JobDraft(name="launched"))
    runtime.jobs.start_job(launched)

    first = interrupt(runtime.jobs, expired, now=clock.advance(LEASE + 1))
    second = interrupt(runtime.jobs, launched, now=clock())

    assert first.outcome == "interrupted"
    assert second.outcome == "failed"  # nothing to resume from


def test_a_stale_attempt_neither_renews_nor_ends_the_job(runtime: Runtime, clock: Clock) -> None:
    """The first trainer only looked dead (a stalled node): after the sweep a second attempt
    took the job over; the first one's renewals and its end are refused."""
    job_id = killed_job(runtime, clock, CHECKPOINT_1)
    sweep(runtime.jobs, [job_id], now=clock.advance(LEASE + 1))
    with pytest.raises(Killed):
        run_training(runtime.jobs, job_id, DyingBackend(), lease=terms(clock, "node-2:7"))
    first_attempt = JobReporter(runtime.jobs, job_id, attempt=1)

    with pytest.raises(StaleAttempt):
        runtime.jobs.renew_lease(job_id, 1, "node-1:4242", clock(), LEASE)
    status = runtime.jobs.end_attempt(job_id, 1, lambda job: job.fail("late"))

    assert status is S.RUNNING
    assert runtime.jobs.get_job(job_id).attempts == 2
    assert first_attempt.cancelled()  # so a live stale trainer stops
    assert not JobReporter(runtime.jobs, job_id, attempt=2).cancelled()


def test_a_trainer_that_outlived_its_lease_stops_and_records_nothing(
    runtime: Runtime, clock: Clock
) -> None:
    job_id = runtime.jobs.create_job(JobDraft(name="stalled", config=quick_config()))

    class Stalled:
        name = "stalled"

        def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
            reporter.checkpoint(CHECKPOINT_1)
            sweep(runtime.jobs, [spec.job_id], now=clock.advance(LEASE + 1))
            assert reporter.cancelled()
            return JobResults(
                best_checkpoint_uri=CHECKPOINT_2, best_f1=0.5, best_epoch=1, epochs_run=1
            )

    status = run_training(runtime.jobs, job_id, Stalled(), lease=terms(clock))

    job = runtime.jobs.get_job(job_id)
    assert status is S.INTERRUPTED
    assert (job.status, job.resume_checkpoint_uri, job.results) == (
        S.INTERRUPTED,
        CHECKPOINT_1,
        None,
    )


# -- a cancel racing the trainer's success ---------------------------------------------------


@pytest.fixture
def two_processes(tmp_path: Path) -> tuple[Runtime, Runtime]:
    """Two runtimes on one local home: what a trainer and `receipts jobs cancel` share."""
    settings = Settings(mode="local", home=tmp_path)
    first, second = bootstrap(settings), bootstrap(settings)
    yield first, second  # type: ignore[misc]
    first.close()
    second.close()


def racing(runtime: Runtime, other: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> None:
    """The next save of a Job by `runtime` happens just after `other` saved (the race)."""
    save = runtime.jobs.save
    raced = []

    def save_after_other(*objs: object, **kwargs: object) -> object:
        if not raced:
            raced.append(True)
            other()
        return save(*objs, **kwargs)

    monkeypatch.setattr(runtime.jobs, "save", save_after_other)


def results() -> JobResults:
    return JobResults(best_checkpoint_uri=CHECKPOINT_2, best_f1=0.8, best_epoch=1, epochs_run=1)


def test_a_cancel_that_wins_the_race_leaves_the_trainer_a_cancelled_job(
    two_processes: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    trainer, person = two_processes
    job_id = trainer.jobs.create_job(JobDraft(name="raced", config=quick_config()))
    trainer.jobs.start_attempt(job_id, "node-1:1", clock(), LEASE)
    racing(trainer, lambda: person.jobs.cancel_job(job_id, "not needed"), monkeypatch)

    status = trainer.jobs.end_attempt(job_id, 1, lambda job: job.succeed(results()))

    assert status is S.CANCELLED
    assert person.jobs.get_job(job_id).status is S.CANCELLED


def test_a_success_that_wins_the_race_refuses_the_cancel_by_its_rule(
    two_processes: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    trainer, person = two_processes
    job_id = trainer.jobs.create_job(JobDraft(name="raced", config=quick_config()))
    trainer.jobs.start_attempt(job_id, "node-1:1", clock(), LEASE)
    person.jobs.get_job(job_id)  # the person's process has read the job running
    racing(person, lambda: trainer.jobs.succeed_job(job_id, results()), monkeypatch)

    with pytest.raises(IllegalTransition, match="cannot be cancelled: it is succeeded"):
        person.jobs.cancel_job(job_id, "not needed")

    assert trainer.jobs.get_job(job_id).status is S.SUCCEEDED
