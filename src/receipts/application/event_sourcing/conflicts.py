"""Saving while other writers save: decide again on the new state when another save won."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

T = TypeVar("T")


def retry_on_conflict(decide_and_save: Callable[[], T], attempts: int = 3) -> T:
    """Runs `decide_and_save` (which reads the aggregate, decides and saves); when a
    concurrent save of the same aggregate wins (IntegrityError), runs it again on the state
    that save left, at most `attempts` times in all."""
    for _ in range(attempts - 1):
        try:
            return decide_and_save()
        except IntegrityError:
            continue
    return decide_and_save()
