"""The JobLease aggregate: who trains a job now, until when, and its last whole checkpoint.

One per job (a uuid5 of its id), apart from the Job for the reason JobMetric is: the
trainer renews it every quarter of the lease while a person may cancel the job, and a
renewal must never race a status change. Starting an attempt renews it in the same save
as the Job's Started/Resumed event, so a running job's attempt always has a lease; a
trainer killed with SIGKILL (OOM, a lost node, a spot reclaim) stops renewing, and once
the lease has expired a sweep ends the job interrupted at `checkpoint_uri` (or failed
when the attempt never wrote a whole checkpoint).

A renewal is one small event; at the default 300 s lease, a ten-hour run writes 480.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field

from receipts.domain.aggregate import Aggregate, AggregateCreated, Timestamp, derived_id
from receipts.domain.errors import StaleAttempt

DEFAULT_LEASE_SECONDS = 300.0
"""How long a trainer's lease lasts after a renewal unless configured
(`RECEIPTS_JOB_LEASE_SECONDS`); it renews every quarter of it."""


class JobLease(Aggregate):
    """A job's lease: renewed by the process that trains the job's current attempt."""

    class Event(Aggregate.Event):
        pass

    class Created(Event, AggregateCreated):
        job_id: UUID

    class Renewed(Event):
        attempt: int = Field(ge=1)
        holder: str
        """Where the trainer runs (`host:pid`), for messages."""
        expires_at: Timestamp
        checkpoint_uri: str | None = None
        """The attempt's last whole, resumable checkpoint (None: none yet)."""

        def apply(self, aggregate: Any) -> None:
            lease: JobLease = aggregate
            lease.attempt = self.attempt
            lease.holder = self.holder
            lease.expires_at = self.expires_at
            lease.checkpoint_uri = self.checkpoint_uri

    @staticmethod
    def create_id(*_: Any, job_id: UUID, **__: Any) -> UUID:
        return JobLease.id_for(job_id)

    @staticmethod
    def id_for(job_id: UUID) -> UUID:
        return derived_id("job-lease", job_id)

    @event(Created)
    def __init__(self, job_id: UUID) -> None:
        self.job_id = job_id
        self.attempt = 0
        self.holder = ""
        self.expires_at: datetime | None = None
        self.checkpoint_uri: str | None = None

    def renew(
        self,
        attempt: int,
        holder: str,
        now: datetime,
        seconds: float,
        checkpoint_uri: str | None = None,
    ) -> None:
        """Holds the lease for `attempt` until `seconds` after `now`; a checkpoint of the
        same attempt is kept until a newer one is given. An older attempt is refused."""
        if attempt < self.attempt:
            raise StaleAttempt("job", self.job_id, "renew the lease of", attempt, self.attempt)
        if checkpoint_uri is None and attempt == self.attempt:
            checkpoint_uri = self.checkpoint_uri
        self.trigger_event(
            self.Renewed,
            attempt=attempt,
            holder=holder,
            expires_at=now + timedelta(seconds=seconds),
            checkpoint_uri=checkpoint_uri,
        )

    def live(self, attempt: int, now: datetime) -> bool:
        """Whether `attempt` holds the lease at `now`."""
        return attempt == self.attempt and self.expires_at is not None and now < self.expires_at
