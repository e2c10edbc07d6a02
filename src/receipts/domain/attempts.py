"""Numbered attempts of work that a queue hands to workers (exports, OCR jobs)."""

from __future__ import annotations

from enum import Enum
from typing import ClassVar, Generic, TypeVar
from uuid import UUID

from receipts.domain.errors import StaleAttempt

Status = TypeVar("Status", bound=Enum)


class Attempts(Generic[Status]):
    """Each start of the work is attempt n + 1; only the current attempt, while the work
    runs, may end it (`check_attempt`, else StaleAttempt), so of two attempts racing to
    finish only one records its end. An operator's retry queues the work again: a new
    message, whose deliveries `attempts_since_queued` counts from 1 again."""

    WHAT: ClassVar[str]
    """The work's name in errors ("export job")."""
    RUNNING: ClassVar[Enum]
    """The status an attempt runs in."""

    id: UUID
    status: Status
    attempts: int = 0
    """Starts so far; the latest is the current attempt."""
    queued_at_attempt: int = 0
    """`attempts` when an operator last queued the work again (0: never)."""

    @property
    def attempts_since_queued(self) -> int:
        return self.attempts - self.queued_at_attempt

    def check_attempt(self, attempt: int | None, action: str) -> None:
        """`attempt` None: an end decided outside any attempt (a reported result, the
        dead-letter queue), not fenced."""
        current = self.status is self.RUNNING and attempt == self.attempts
        if attempt is not None and not current:
            raise StaleAttempt(self.WHAT, self.id, action, attempt, self.attempts)
