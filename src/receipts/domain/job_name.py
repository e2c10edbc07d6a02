"""The JobName aggregate: makes job names unique and finds a job by its name."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from receipts.domain.aggregate import Aggregate, AggregateCreated, derived_id


class JobName(Aggregate):
    """Saved atomically with its Job: a second job with the same name cannot be recorded."""

    @staticmethod
    def create_id(*_: Any, name: str, **__: Any) -> UUID:
        return JobName.id_for(name)

    @staticmethod
    def id_for(name: str) -> UUID:
        return derived_id("job-name", name)

    class Event(Aggregate.Event):
        pass

    class Registered(Event, AggregateCreated):
        name: str
        job_id: UUID

    @event(Registered)
    def __init__(self, name: str, job_id: UUID) -> None:
        self.name = name
        self.job_id = job_id
