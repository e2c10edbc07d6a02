"""Helpers for testing the DynamoDB event store on the moto server: a client wrapper that
serializes transactions (moto does not isolate concurrent ones) and counts operations."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from receipts.adapters.dynamodb.event_store import DynamoDBFactory
from receipts.bootstrap import event_store_env
from receipts.settings import Settings

_TRANSACTIONS = threading.Lock()
"""One lock for every wrapped client in the process: recorders opened as if by separate
processes still race for the same table on the one moto server."""


class SerializedTransactions:
    """A boto3 DynamoDB client whose `transact_write_items` calls run one at a time.

    Real DynamoDB isolates transactions (a condition is checked and the write applied
    atomically); moto 5.2.5 does not, so concurrent tests would test moto's race instead of
    the store's conditions. Everything else passes straight through. `calls` counts the
    operations made through this client (reads included), for tests that check which
    requests a recorder issues.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def transact_write_items(self, **kwargs: Any) -> Any:
        self._count("transact_write_items")
        with _TRANSACTIONS:
            return self._client.transact_write_items(**kwargs)

    def _count(self, operation: str) -> None:
        with self._count_lock:
            self.calls[operation] += 1

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in {"get_waiter", "meta"}:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._count(name)
            return attribute(*args, **kwargs)

        return counted


def event_store_settings(table: str, *, create: bool = True) -> Settings:
    return Settings(mode="aws", events_table=table, create_resources=create)


def open_factory(table: str, app_name: str = "Jobs", *, create: bool = True) -> DynamoDBFactory:
    """The persistence module's factory for one application, built from the environment
    `bootstrap` gives applications, its client wrapped in `SerializedTransactions`."""
    env = Environment(app_name, event_store_env(event_store_settings(table, create=create)))
    factory = InfrastructureFactory.construct(env)
    assert isinstance(factory, DynamoDBFactory)
    factory.datastore.db = SerializedTransactions(factory.datastore.db)
    return factory


def probe_of(recorder: object) -> SerializedTransactions:
    """The wrapped client of a recorder `open_factory` built."""
    db = recorder.datastore.db  # type: ignore[attr-defined]
    assert isinstance(db, SerializedTransactions)
    return db


def stored(originator_id: UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id, originator_version=version, topic="topic", state=state
    )
