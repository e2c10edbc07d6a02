"""Liveness of training: the trainer's lease, its heartbeat, and the sweep that ends jobs
whose trainer died.

`run_training` starts each attempt with a lease (`Jobs.start_attempt`) and keeps it with a
`LeaseKeeper`: a daemon thread renews it every quarter of its length, and every whole
checkpoint the trainer writes is recorded on it at once (before older ones are pruned).
A trainer killed with SIGKILL renews nothing more; once its lease has expired, `sweep`
(`receipts jobs recover`, the recover-jobs Lambda, `train --resume` of that job) ends the
job interrupted at the lease's last whole checkpoint, so `receipts train --resume` carries
on from there, or failed when the attempt never wrote one. `interrupt` is the operator's
word for one job (`receipts jobs interrupt`): it refuses a live lease unless forced.
Every end is decided on the job's current state and saved through `retry_on_conflict`, so
a trainer finishing at the same moment either wins or loses cleanly.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from receipts.application.event_sourcing.conflicts import retry_on_conflict
from receipts.application.queueing.beating import Beating
from receipts.application.queueing.worker_log import StdlibWorkerLog, WorkerLog
from receipts.application.training.jobs import Jobs
from receipts.domain.aggregate import iso, utc_now
from receipts.domain.errors import DomainError, IllegalTransition, StaleAttempt
from receipts.domain.job import Job, JobStatus
from receipts.domain.job_lease import DEFAULT_LEASE_SECONDS, JobLease

Clock = Callable[[], datetime]
Outcome = Literal["interrupted", "failed", "live", "untracked", "ended"]


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LeaseTerms:
    """How a trainer holds its job's lease: for `seconds` after each renewal, renewed
    every quarter of that, as `holder`, on `clock`."""

    seconds: float = DEFAULT_LEASE_SECONDS
    holder: str = field(default_factory=this_process)
    clock: Clock = utc_now

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"a lease must last a positive time, got {self.seconds:g} s")

    @property
    def every(self) -> float:
        return self.seconds / 4


class LeaseKeeper(Beating):
    """`with LeaseKeeper(jobs, job_id, attempt, terms): train()` renews the attempt's lease
    from a daemon thread every `terms.every` seconds; `renew(checkpoint_uri)` records a
    whole checkpoint at once. A renewal that fails is logged and tried again at the next
    beat; once a later attempt holds the lease, beating stops."""

    def __init__(
        self,
        jobs: Jobs,
        job_id: UUID,
        attempt: int,
        terms: LeaseTerms,
        log: WorkerLog | None = None,
    ) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.attempt = attempt
        self.terms = terms
        self.every = terms.every
        self.log = log or StdlibWorkerLog("receipts.training")
        self._lock = threading.Lock()  # the beat and a checkpoint never save at once

    def renew(self, checkpoint_uri: str | None = None) -> None:
        with self._lock:
            t = self.terms
            self.jobs.renew_lease(
                self.job_id, self.attempt, t.holder, t.clock(), t.seconds, checkpoint_uri
            )

    @property
    def thread_name(self) -> str:
        return f"lease-{self.job_id}"

    def beat(self) -> bool:
        try:
            self.renew()
        except StaleAttempt as stale:
            self.log.warning("lease lost", job_id=self.job_id, error=str(stale))
            return False
        except Exception as error:
            self.log.warning(
                "lease renewal failed", job_id=self.job_id, error=f"{type(error).__name__}: {error}"
            )
        return True


@dataclass(frozen=True)
class Recovery:
    """What a sweep or an interrupt did with one running job."""

    job_id: UUID
    name: str
    outcome: Outcome
    detail: str
    checkpoint_uri: str | None = None


class LeaseHeld(DomainError):
    """An operator asked to interrupt a job whose trainer still holds its lease."""

    def __init__(self, job: Job, lease: JobLease) -> None:
        until = iso(lease.expires_at) if lease.expires_at else "?"
        super().__init__(
            f"job {job.name} is running: its lease is held by {lease.holder} until {until}"
            " (the trainer may still be alive); wait for it to expire or pass --force"
        )


def current_lease(jobs: Jobs, job: Job) -> JobLease | None:
    """The lease of the job's current attempt, or None (no lease, or an older attempt's)."""
    lease = jobs.lease_of(job.id)
    return lease if lease is not None and lease.attempt == job.attempts else None


def sweep(jobs: Jobs, job_ids: Iterable[UUID], now: datetime | None = None) -> list[Recovery]:
    """Ends each running job whose current attempt's lease expired before `now`: interrupted
    at the lease's last whole checkpoint, or failed when there is none. A live lease, a job
    no longer running and a running job without a lease (started before leases, or by the
    SageMaker launcher whose container has not begun) are left as they are."""
    moment = now or utc_now()
    return [_sweep_one(jobs, job_id, moment) for job_id in job_ids]


def _sweep_one(jobs: Jobs, job_id: UUID, now: datetime) -> Recovery:
    def decide() -> Recovery:
        job = jobs.get_job(job_id)
        if job.status is not JobStatus.RUNNING:
            return Recovery(job.id, job.name, "ended", f"is {job.status.value}")
        lease = current_lease(jobs, job)
        if lease is None:
            return Recovery(job.id, job.name, "untracked", "has no lease: left running")
        if lease.live(job.attempts, now):
            until = iso(lease.expires_at) if lease.expires_at else "?"
            return Recovery(job.id, job.name, "live", f"lease held by {lease.holder} until {until}")
        until = iso(lease.expires_at) if lease.expires_at else "?"
        return _abandon(
            jobs, job, lease, f"trainer {lease.holder} stopped; its lease expired {until}"
        )

    return retry_on_conflict(decide)


def interrupt(
    jobs: Jobs,
    job_id: UUID,
    *,
    force: bool = False,
    reason: str = "interrupted by an operator",
    now: datetime | None = None,
) -> Recovery:
    """Ends one running job as `sweep` would, on an operator's word: refused (LeaseHeld)
    while its trainer's lease is live, unless `force`; IllegalTransition when not running."""
    moment = now or utc_now()

    def decide() -> Recovery:
        job = jobs.get_job(job_id)
        if job.status is not JobStatus.RUNNING:
            raise IllegalTransition("job", job.id, "be interrupted", job.status.value)
        lease = current_lease(jobs, job)
        if lease is not None and lease.live(job.attempts, moment) and not force:
            raise LeaseHeld(job, lease)
        return _abandon(jobs, job, lease, reason)

    return retry_on_conflict(decide)


def _abandon(jobs: Jobs, job: Job, lease: JobLease | None, reason: str) -> Recovery:
    """Interrupted at the attempt's last whole checkpoint, or failed without one; saved."""
    checkpoint = lease.checkpoint_uri if lease is not None else job.resume_checkpoint_uri
    if checkpoint:
        job.interrupt(checkpoint, reason)
        outcome: Outcome = "interrupted"
        detail = f"{reason}; resume with: receipts train --resume {job.name}"
    else:
        reason = f"{reason}, before its first whole checkpoint: nothing to resume from"
        job.fail(reason)
        outcome, detail = "failed", reason
    jobs.save(job)
    return Recovery(job.id, job.name, outcome, detail, checkpoint)
