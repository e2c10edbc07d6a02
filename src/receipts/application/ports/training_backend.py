"""The training-backend port: something that trains a job's model and reports as it goes."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from receipts.domain.config import JobConfig
from receipts.domain.job import JobResults
from receipts.domain.job_log import LogLevel
from receipts.domain.job_metric import Evaluation


class TrainingSpec(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: UUID
    job_name: str
    config: JobConfig
    resume_from_uri: str | None = None

    def with_data(self, **changes: Any) -> TrainingSpec:
        """This spec with `changes` to its data config."""
        data = self.config.data.model_copy(update=changes)
        return self.model_copy(update={"config": self.config.model_copy(update={"data": data})})


class TrainingFailed(Exception):
    """Training cannot go on; the message is the reason recorded on the job."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint it can resume from."""

    def __init__(self, checkpoint_uri: str | None, reason: str = "interrupted") -> None:
        super().__init__(reason)
        self.checkpoint_uri = checkpoint_uri
        self.reason = reason


class TrainingCancelled(Exception):
    """The job was cancelled while it trained; the trainer stopped without results."""


class TrainingReporter(Protocol):
    def evaluation(self, evaluation: Evaluation) -> None: ...

    def log(self, message: str, level: LogLevel = "info", **data: Any) -> None: ...

    def run_config(self, data: dict[str, Any]) -> None: ...

    def checkpoint(self, uri: str) -> None:
        """A whole, resumable checkpoint was just written at `uri` (before any older one is
        pruned): it is where the job resumes should its trainer die."""
        ...

    def cancelled(self) -> bool:
        """Whether the job was cancelled (or its attempt ended elsewhere); trainers check it
        between steps and stop."""
        ...


class TrainingBackend(Protocol):
    name: str

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        """Trains to the end; raises TrainingFailed, TrainingInterrupted or TrainingCancelled."""
        ...
