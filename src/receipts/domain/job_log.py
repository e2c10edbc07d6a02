"""The JobLog aggregate: a job's run_config, run_summary and messages (the seeds' JobLog)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field

from receipts.domain.aggregate import (
    Aggregate,
    AggregateCreated,
    Timestamp,
    ValueObject,
    derived_id,
    utc_now,
)

LogKind = Literal["run_config", "run_summary", "message"]
LogLevel = Literal["debug", "info", "warning", "error"]


class LogEntry(ValueObject):
    kind: LogKind = "message"
    level: LogLevel = "info"
    message: str
    data: dict[str, Any] = Field(default_factory=dict)
    timestamp: Timestamp = Field(default_factory=utc_now)


class JobLog(Aggregate):
    class Event(Aggregate.Event):
        pass

    class Created(Event, AggregateCreated):
        job_id: UUID

    class Logged(Event):
        entry: LogEntry

        def apply(self, aggregate: Any) -> None:
            log: JobLog = aggregate
            log.entries.append(self.entry)

    @staticmethod
    def create_id(*_: Any, job_id: UUID, **__: Any) -> UUID:
        return JobLog.id_for(job_id)

    @staticmethod
    def id_for(job_id: UUID) -> UUID:
        return derived_id("job-log", job_id)

    @event(Created)
    def __init__(self, job_id: UUID) -> None:
        self.job_id = job_id
        self.entries: list[LogEntry] = []

    def append(self, entry: LogEntry) -> None:
        self.trigger_event(self.Logged, entry=entry)

    def of_kind(self, kind: LogKind) -> list[LogEntry]:
        return [entry for entry in self.entries if entry.kind == kind]
