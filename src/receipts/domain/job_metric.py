"""The JobMetric aggregate: one job's series of evaluations.

Keyed by the job (a uuid5 of its id), apart from the Job aggregate, so the trainer's
metric writes never contend with status changes made elsewhere (a user cancelling).
"""

from __future__ import annotations

import math
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import event
from pydantic import Field, NonNegativeInt, model_validator

from receipts.domain.aggregate import (
    Aggregate,
    AggregateCreated,
    Timestamp,
    ValueObject,
    derived_id,
    utc_now,
)
from receipts.domain.errors import DomainError


class LabelScore(ValueObject):
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    f1: float = Field(ge=0, le=1)
    support: int = Field(ge=0)


class Evaluation(ValueObject):
    """One evaluation of a job's model on its validation split (entity-level, seqeval)."""

    epoch: int = Field(ge=0)
    global_step: int = Field(ge=0)
    f1: float = Field(ge=0, le=1)
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    loss: float | None = None
    train_loss: float | None = None
    learning_rate: float | None = None
    per_label: dict[str, LabelScore] = Field(default_factory=dict)
    elapsed_seconds: float | None = Field(None, ge=0)
    timestamp: Timestamp = Field(default_factory=utc_now)
    confusion: dict[str, dict[str, NonNegativeInt]] = Field(default_factory=dict)
    """Word-level confusion: true label → predicted label → words (no BIO prefix; O too).
    Empty in evaluations recorded before it was kept."""

    @model_validator(mode="after")
    def _finite_losses(self) -> Self:
        for name in ("loss", "train_loss"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        return self


class MetricOutOfOrder(DomainError):
    pass


class JobMetric(Aggregate):
    class Event(Aggregate.Event):
        pass

    class Created(Event, AggregateCreated):
        job_id: UUID

    class Recorded(Event):
        evaluation: Evaluation

        def apply(self, aggregate: Any) -> None:
            series: JobMetric = aggregate
            series.evaluations.append(self.evaluation)

    @staticmethod
    def create_id(*_: Any, job_id: UUID, **__: Any) -> UUID:
        return JobMetric.id_for(job_id)

    @staticmethod
    def id_for(job_id: UUID) -> UUID:
        return derived_id("job-metric", job_id)

    @event(Created)
    def __init__(self, job_id: UUID) -> None:
        self.job_id = job_id
        self.evaluations: list[Evaluation] = []

    def record(self, evaluation: Evaluation) -> bool:
        """Records an evaluation; a repeat of the last (same epoch and step) is ignored.

        Returns whether anything was recorded. An evaluation from before the last one
        is refused: steps only move forward, also across a resume.
        """
        if self.evaluations:
            last = self.evaluations[-1]
            if (evaluation.epoch, evaluation.global_step) == (last.epoch, last.global_step):
                return False
            if evaluation.global_step < last.global_step:
                raise MetricOutOfOrder(
                    f"job {self.job_id}: step {evaluation.global_step} comes before the last"
                    f" recorded step {last.global_step}"
                )
        self.trigger_event(self.Recorded, evaluation=evaluation)
        return True

    def best(self) -> Evaluation | None:
        """The evaluation with the highest F1 (the earliest among ties)."""
        return max(self.evaluations, key=lambda e: e.f1, default=None)

    def latest(self) -> Evaluation | None:
        return self.evaluations[-1] if self.evaluations else None
