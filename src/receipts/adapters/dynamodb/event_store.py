"""An eventsourcing persistence module backed by DynamoDB.

Set `PERSISTENCE_MODULE=receipts.adapters.dynamodb.event_store` and `DYNAMODB_TABLE`
(prefixable with the application name, e.g. `JOBS_DYNAMODB_TABLE`); `CREATE_TABLE=y`
creates the table when missing. One table (PK string, SK number) holds every
application's items (events, notifications, a counter, tracking), each key prefixed with the
application name: the layout is in `keys`.

A save is one TransactWriteItems: every event (conditional: that version is new), its
notification, the counter (conditional: it still holds the value the save started from,
so ids are gapless and totally ordered), and the tracking record of a process application
(conditional: it moves forward). Version conflicts and repeated tracking raise the
library's IntegrityError; a lost race for the counter is retried with fresh ids. A
recorder remembers the counter it last wrote, so a save costs one request while it is
the only writer. botocore's own retries of a transaction resend its ClientRequestToken,
so a commit whose response was lost is not applied twice (nor refused as a conflict).
Factories with the same AWS settings share one (thread-safe) client and create the table
once per process.

Limits are checked before anything is sent (EventStoreLimitExceeded, nothing written):
100 items per transaction (49 events per save, 48 with tracking), 400 KB per item,
4 MB per transaction. Reads are strongly consistent Queries, never scans: events by
aggregate and version range, notifications by bucket and id range. Throttling is retried
by botocore with backoff (`aws_clients.py`); what is still throttled after that raises
EventStoreThrottled. A stored item with a missing or mistyped attribute raises
MalformedStoredEvent naming the aggregate and version (or the notification id).
"""

from __future__ import annotations

import os

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from receipts.adapters.dynamodb.event_recorders import (
    DynamoDBAggregateRecorder,
    DynamoDBApplicationRecorder,
    DynamoDBProcessRecorder,
    DynamoDBTrackingRecorder,
)
from receipts.adapters.dynamodb.event_store_errors import (
    EventStoreLimitExceeded,
    EventStoreThrottled,
    MalformedStoredEvent,
)
from receipts.adapters.dynamodb.event_table import (
    CLIENT_SETTINGS,
    TABLES_CREATED,
    TABLES_LOCK,
    DynamoDBDatastore,
    shared_client,
)
from receipts.adapters.dynamodb.table import MAX_ITEM_BYTES, TableMissing

__all__ = [
    "MAX_ITEM_BYTES",
    "DynamoDBAggregateRecorder",
    "DynamoDBApplicationRecorder",
    "DynamoDBDatastore",
    "DynamoDBFactory",
    "DynamoDBProcessRecorder",
    "DynamoDBTrackingRecorder",
    "EventStoreLimitExceeded",
    "EventStoreThrottled",
    "Factory",
    "MalformedStoredEvent",
    "TableMissing",
]


class DynamoDBFactory(InfrastructureFactory[DynamoDBTrackingRecorder]):
    DYNAMODB_TABLE = "DYNAMODB_TABLE"
    CREATE_TABLE = "CREATE_TABLE"

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        table = self.env.get(self.DYNAMODB_TABLE)
        if not table:
            raise OSError(
                "DynamoDB event store table not set: "
                + ", ".join(self.env.create_keys(self.DYNAMODB_TABLE))
            )
        app = self.env.name or "app"
        settings = {**os.environ, **{k: str(v) for k, v in self.env.items()}}
        key = tuple(settings.get(name) for name in CLIENT_SETTINGS)
        self.datastore = DynamoDBDatastore(table, app, shared_client(key))
        if strtobool(self.env.get(self.CREATE_TABLE) or "no"):
            with TABLES_LOCK:
                if (key, table) not in TABLES_CREATED:
                    self.datastore.create_table()
                    TABLES_CREATED.add((key, table))

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return DynamoDBAggregateRecorder(self.datastore, purpose)

    def application_recorder(self) -> ApplicationRecorder:
        return DynamoDBApplicationRecorder(self.datastore)

    def tracking_recorder(
        self, tracking_recorder_class: type[DynamoDBTrackingRecorder] | None = None
    ) -> DynamoDBTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else DynamoDBTrackingRecorder
        if not (
            isinstance(tracking_recorder_class, type)
            and issubclass(tracking_recorder_class, DynamoDBTrackingRecorder)
        ):
            raise TypeError(
                f"{self.TRACKING_RECORDER_TOPIC} must name a DynamoDBTrackingRecorder"
                f" subclass, not {tracking_recorder_class!r}"
            )
        return tracking_recorder_class(self.datastore)

    def process_recorder(self) -> ProcessRecorder:
        return DynamoDBProcessRecorder(self.datastore)


Factory = DynamoDBFactory
