"""Status machines: which status may follow which."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar
from uuid import UUID

from receipts.domain.errors import IllegalTransition

Status = TypeVar("Status", bound=StrEnum)


class StatusMachine(Generic[Status]):
    def __init__(self, entity: str, allowed: Mapping[Status, frozenset[Status]]) -> None:
        self.entity = entity
        self.allowed = dict(allowed)

    @property
    def terminal(self) -> frozenset[Status]:
        return frozenset(status for status, nexts in self.allowed.items() if not nexts)

    def can(self, current: Status, target: Status) -> bool:
        return target in self.allowed.get(current, frozenset())

    def check(self, entity_id: UUID, current: Status, target: Status, action: str) -> None:
        if not self.can(current, target):
            raise IllegalTransition(self.entity, entity_id, action, current.value)
