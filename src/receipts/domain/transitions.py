"""Status machines: which status may follow which."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar
from uuid import UUID

from receipts.domain.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


class StatusMachine(Generic[S]):
    def __init__(self, entity: str, allowed: Mapping[S, frozenset[S]]) -> None:
        self.entity = entity
        self.allowed = dict(allowed)

    @property
    def terminal(self) -> frozenset[S]:
        return frozenset(status for status, nexts in self.allowed.items() if not nexts)

    def can(self, current: S, target: S) -> bool:
        return target in self.allowed.get(current, frozenset())

    def check(self, entity_id: UUID, current: S, target: S, action: str) -> None:
        if not self.can(current, target):
            raise IllegalTransition(self.entity, entity_id, action, current.value)
