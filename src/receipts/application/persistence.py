"""Glue between pydantic events and the eventsourcing library's persistence.

eventsourcing 9.5 ships no pydantic support: this mapper stores an event as its pydantic
JSON (the `model_dump(mode="json")` document, written by pydantic's serialiser in one
pass) and rebuilds it with `model_validate`, so every payload is validated again on the
way back in.

The library checks objects against its `typing.Protocol`s when it collects and projects
events; on Python 3.11 every such check re-derives the protocol's members, which costs
more than the rest of collecting. `PydanticApplication` recognises this project's
aggregates and events by their (cheap) base classes first and falls back to the
library's checks for anything else.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from threading import Lock
from typing import Any
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import BaseAggregate, CanMutateAggregate, DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.system import Leader
from eventsourcing.utils import get_topic, resolve_topic, strtobool
from pydantic import BaseModel

from receipts.domain.aggregate import DomainEvent

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


def project_aggregate(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """The library's projector, checking events by class instead of by protocol."""
    for domain_event in domain_events:
        if not isinstance(domain_event, CanMutateAggregate):
            raise TypeError(f"{type(domain_event).__name__} cannot mutate an aggregate")
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class PydanticRepository(Repository[UUID]):
    """The library's repository, projecting with `project_aggregate` and cheaper locks.

    Fast-forwarding a cached aggregate holds a lock for that aggregate. The library
    hands out one lock per aggregate from an LRU of idle locks, which costs more than
    a cached get itself; here an aggregate's lock is one of a fixed set, picked by its
    id, so the same aggregate always gets the same lock. (Two aggregates may share one:
    they then fast-forward one after the other.)
    """

    FASTFORWARD_LOCK_STRIPES = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fastforward_stripes = [Lock() for _ in range(self.FASTFORWARD_LOCK_STRIPES)]

    def _use_fastforward_lock(self, aggregate_id: UUID) -> Lock:
        return self._fastforward_stripes[hash(aggregate_id) % self.FASTFORWARD_LOCK_STRIPES]

    def _disuse_fastforward_lock(self, aggregate_id: UUID) -> None:
        pass

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        return super().get(
            aggregate_id,
            version=version,
            projector_func=projector_func,
            fastforward_skipping=fastforward_skipping,
            deepcopy_from_cache=deepcopy_from_cache,
        )


class Collected(ProcessingEvent[UUID]):
    """A processing event that recognises this project's aggregates and events cheaply."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif isinstance(obj, DomainEvent):
                self.events.append(obj)
            else:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


class PydanticApplication(Application[UUID]):
    """An Application whose events are pydantic models stored as JSON.

    Run with `DEEPCOPY_FROM_AGGREGATE_CACHE=n`, a command mutates the cached aggregate
    itself; when its save fails the aggregate is evicted so the cache never holds state
    that was not recorded.
    """

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        if isinstance(self, Leader):
            # Leader.save's bookkeeping (this save comes before Leader's in some MROs)
            leader: Leader[UUID] = self
            if leader.previous_max_notification_id is None:
                leader.previous_max_notification_id = self.recorder.max_notification_id()
        try:
            # Application.save, with a processing event that collects without protocols
            processing_event = Collected()
            processing_event.collect_events(*objs, **kwargs)
            recordings = self._record(processing_event)
            self._take_snapshots(processing_event)
            self._notify(recordings)
            self.notify(processing_event.events)  # deprecated hook, kept for subclasses
        except BaseException:
            cache = self.repository.cache
            if cache is not None:
                for obj in objs:
                    with contextlib.suppress(KeyError, AttributeError):
                        cache.get(obj.id, evict=True)
            raise
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> Any:
        recordings = super()._record(processing_event)
        repository = self.repository
        cache = repository.cache
        if cache is not None and repository.fastforward and not repository.deepcopy_from_cache:
            # The library caches saved aggregates only without fast-forwarding. A saved
            # aggregate is exactly its recorded state, and a cache hit fast-forwards it
            # with anything recorded since, so caching it here is as safe, and spares the
            # next get() rebuilding it from its events. (With deep copies the cache must
            # not hold the caller's object, so that is left to the library.)
            for aggregate_id, aggregate in processing_event.aggregates.items():
                cache.put(aggregate_id, aggregate)
        return recordings

    def construct_transcoder(self) -> Transcoder:
        return JSONTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=PydanticMapper
        )

    def construct_repository(self) -> Repository[UUID]:
        # Application.construct_repository, with the repository that projects cheaply
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return PydanticRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
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
