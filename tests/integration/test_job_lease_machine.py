"""The Job status machine with leases, against a simple model (hypothesis, memory runtime).

Random starts, renewals (with and without a checkpoint, and by stale attempts), clock
moves, sweeps, operator interrupts, cancels and attempt ends. After every step each job
matches the model; a sweep never ends a job whose lease is live and leaves no running job
with an expired lease; a swept job resumes at the last checkpoint its attempt recorded;
an attempt that was ended elsewhere never changes the job again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from receipts.application.training.leases import LeaseHeld, interrupt, sweep
from receipts.bootstrap import bootstrap
from receipts.domain.errors import IllegalTransition, StaleAttempt
from receipts.domain.job import JOB_STATUS, JobDraft, JobResults, JobStatus
from receipts.settings import Settings

S = JobStatus
LEASE = 300.0
T0 = datetime(2025, 1, 1, tzinfo=UTC)
CHECKPOINTS = st.sampled_from([None, "memory://r/c-1/", "memory://r/c-2/", "memory://r/c-3/"])
RESULTS = JobResults(
    best_checkpoint_uri="memory://r/best/", best_f1=0.5, best_epoch=1, epochs_run=1
)


@dataclass
class Model:
    job_id: UUID
    status: JobStatus = S.PENDING
    attempts: int = 0
    expires_at: datetime | None = None
    checkpoint: str | None = None  # the current attempt's last whole checkpoint
    resume: str | None = None

    def live(self, now: datetime) -> bool:
        return self.expires_at is not None and now < self.expires_at

    def abandon(self) -> None:
        if self.checkpoint:
            self.status, self.resume = S.INTERRUPTED, self.checkpoint
        else:
            self.status = S.FAILED


class Leases(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.runtime = bootstrap(Settings(mode="memory"))
        self.now = T0
        self.models: dict[UUID, Model] = {}
        self.count = 0

    def teardown(self) -> None:
        self.runtime.close()

    @rule(target=jobs)
    def create(self) -> UUID:
        self.count += 1
        job_id = self.runtime.jobs.create_job(JobDraft(name=f"job-{self.count}"))
        self.models[job_id] = Model(job_id)
        return job_id

    @rule(job_id=jobs)
    def start(self, job_id: UUID) -> None:
        model = self.models[job_id]
        if not JOB_STATUS.can(model.status, S.RUNNING):
            with pytest.raises(IllegalTransition):
                self.runtime.jobs.start_attempt(job_id, "h:1", self.now, LEASE)
            return
        self.runtime.jobs.start_attempt(job_id, "h:1", self.now, LEASE)
        model.status, model.attempts = S.RUNNING, model.attempts + 1
        model.expires_at = self.now + timedelta(seconds=LEASE)
        model.checkpoint = model.resume

    @rule(job_id=jobs, checkpoint=CHECKPOINTS, stale=st.booleans())
    def renew(self, job_id: UUID, checkpoint: str | None, stale: bool) -> None:
        model = self.models[job_id]
        if model.attempts == 0:
            return
        if stale and model.attempts > 1:
            with pytest.raises(StaleAttempt):
                self.runtime.jobs.renew_lease(job_id, model.attempts - 1, "h:0", self.now, LEASE)
            return
        self.runtime.jobs.renew_lease(job_id, model.attempts, "h:1", self.now, LEASE, checkpoint)
        model.expires_at = self.now + timedelta(seconds=LEASE)
        model.checkpoint = checkpoint or model.checkpoint

    @rule(seconds=st.floats(min_value=0, max_value=2 * LEASE))
    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def sweep_all(self) -> None:
        recoveries = sweep(self.runtime.jobs, list(self.models), now=self.now)
        for recovery in recoveries:
            model = self.models[recovery.job_id]
            if model.status is S.RUNNING and not model.live(self.now):
                model.abandon()
                assert recovery.outcome == model.status.value
                assert recovery.checkpoint_uri == (model.checkpoint or None)
            else:
                assert recovery.outcome in ("live", "ended")

    @rule(job_id=jobs, force=st.booleans())
    def interrupt_one(self, job_id: UUID, force: bool) -> None:
        model = self.models[job_id]
        if model.status is not S.RUNNING:
            with pytest.raises(IllegalTransition):
                interrupt(self.runtime.jobs, job_id, force=force, now=self.now)
        elif model.live(self.now) and not force:
            with pytest.raises(LeaseHeld):
                interrupt(self.runtime.jobs, job_id, now=self.now)
        else:
            interrupt(self.runtime.jobs, job_id, force=force, now=self.now)
            model.abandon()

    @rule(job_id=jobs)
    def cancel(self, job_id: UUID) -> None:
        model = self.models[job_id]
        if not JOB_STATUS.can(model.status, S.CANCELLED):
            with pytest.raises(IllegalTransition):
                self.runtime.jobs.cancel_job(job_id)
            return
        self.runtime.jobs.cancel_job(job_id)
        model.status = S.CANCELLED

    @rule(job_id=jobs, succeed=st.booleans(), behind=st.integers(0, 1))
    def end_attempt(self, job_id: UUID, succeed: bool, behind: int) -> None:
        model = self.models[job_id]
        attempt = model.attempts - behind

        def end(job: object) -> None:
            job.succeed(RESULTS) if succeed else job.fail("boom")  # type: ignore[attr-defined]

        status = self.runtime.jobs.end_attempt(job_id, attempt, end)
        if model.status is S.RUNNING and attempt == model.attempts:
            model.status = S.SUCCEEDED if succeed else S.FAILED
        assert status is model.status

    @invariant()
    def jobs_match_the_model(self) -> None:
        for job_id, model in self.models.items():
            job = self.runtime.jobs.get_job(job_id)
            assert (job.status, job.attempts) == (model.status, model.attempts)
            if model.status is S.INTERRUPTED:
                assert job.resume_checkpoint_uri == model.resume
            if model.status is S.RUNNING:
                lease = self.runtime.jobs.lease_of(job_id)
                assert lease is not None and lease.attempt == job.attempts
                assert lease.expires_at == model.expires_at


Leases.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_job_leases = Leases.TestCase
