"""The event-sourced aggregate base: pydantic events on the eventsourcing library.

Events are frozen pydantic models, so their payloads (configs, metrics, boxes) are
validated value objects that round-trip through JSON exactly. Timestamps are always
timezone-aware UTC and serialise as ISO 8601 with `+00:00`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Self
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 with an explicit `+00:00` offset (never `Z`), as Python and Swift both parse."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat()


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC)


Timestamp = Annotated[
    datetime, AfterValidator(_as_utc), PlainSerializer(iso, return_type=str, when_used="json")
]
"""A timezone-aware UTC datetime that serialises as ISO 8601 with `+00:00`."""


class ValueObject(BaseModel):
    # non-finite floats in free-form payloads round-trip through JSON as NaN/Infinity
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_inf_nan="constants", defer_build=True
    )

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        # Frozen and never mutated in place: sharing is safe, and it keeps the
        # repository's cache (which deep-copies aggregates) cheap.
        return self


class DomainEvent(ValueObject):
    originator_id: UUID
    originator_version: int
    timestamp: Timestamp = Field(default_factory=utc_now)


class Aggregate(BaseAggregate[UUID]):
    """Base for the project's aggregates.

    Each aggregate declares its own `Event` base and its events: the created event
    (an `AggregateCreated`, recorded by `@event` on `__init__`) and events whose `apply`
    makes the change. Commands check their rule, then `trigger_event` (so nothing is
    recorded when a rule is broken); replaying the events applies the same changes.
    Declaring the events on the aggregate's own `Event` base, and applying them
    without `@event` methods, spares the library redefining each event class (and
    pydantic building each one two or three times).
    """

    @staticmethod
    def create_id(*_: Any, **__: Any) -> UUID:
        return uuid4()

    class Event(DomainEvent, CanMutateAggregate[UUID]):
        pass


class AggregateCreated(Aggregate.Event, CanInitAggregate[UUID]):
    """Base of the events that create an aggregate (each aggregate declares its own).

    Not nested in `Aggregate`: the library would give every aggregate a `Created` event
    class of its own, also those whose created event has another name.
    """

    originator_topic: str


NAMESPACE = UUID("6f1c2a4e-8d0b-4c1e-9a53-2f7e1b0c9d11")
"""Namespace of the deterministic ids (uuid5) of aggregates keyed by another aggregate or name."""


@lru_cache(maxsize=4096)
def derived_id(kind: str, key: object) -> UUID:
    """The uuid5 of `kind:key` in NAMESPACE: the id of an aggregate keyed by `key`."""
    return uuid5(NAMESPACE, f"{kind}:{key}")
