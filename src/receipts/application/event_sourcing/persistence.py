"""Glue between pydantic events and the eventsourcing library's persistence.

eventsourcing 9.5 ships no pydantic support: this mapper stores an event as its pydantic
JSON (the `model_dump(mode="json")` document, written by pydantic's serialiser in one
pass) and rebuilds it with `model_validate`, so every payload is validated again on the
way back in.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
)
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

_ORIGINATOR_FIELDS = {"originator_id", "originator_version"}


class JSONTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


class PydanticMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if not isinstance(domain_event, BaseModel):
            raise TypeError(f"{type(domain_event).__name__} is not a pydantic event")
        # the same document as json.dumps(model_dump(mode="json")), without the dict
        stored_state = domain_event.model_dump_json(exclude=_ORIGINATOR_FIELDS).encode()
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=stored_state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        try:
            stored_state = stored_event.state
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            state = self.transcoder.decode(stored_state)
            state["originator_id"] = stored_event.originator_id
            state["originator_version"] = stored_event.originator_version
            event: DomainEventProtocol[UUID] = cls.model_validate(state)
        except Exception as error:
            raise MapperDeserialisationError(
                f"cannot rebuild {stored_event.topic} v{stored_event.originator_version}"
                f" of {stored_event.originator_id}: {error}"
            ) from error
        return event


class PydanticApplication(Application[UUID]):
    """An Application whose events are pydantic models stored as JSON.

    Run with `DEEPCOPY_FROM_AGGREGATE_CACHE=n`, a command mutates the cached aggregate
    itself; when its save fails the aggregate is evicted so the cache never holds state
    that was not recorded.
    """

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        try:
            return super().save(*objs, **kwargs)
        except BaseException:
            cache = self.repository.cache
            if cache is not None:
                for obj in objs:
                    with contextlib.suppress(KeyError, AttributeError):
                        cache.get(obj.id, evict=True)
            raise

    def construct_transcoder(self) -> Transcoder:
        return JSONTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=PydanticMapper
        )

    def get_if_exists(self, aggregate_id: UUID) -> Any:
        """The aggregate, or None when nothing was ever recorded for it (no exception)."""
        cache = self.repository.cache
        cached = False
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id)
                cached = True
        if not cached and not self.recorder.select_events(aggregate_id, limit=1):
            return None
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
