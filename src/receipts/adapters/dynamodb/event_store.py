"""An eventsourcing persistence module backed by DynamoDB.

Set `PERSISTENCE_MODULE=receipts.adapters.dynamodb.event_store` and `DYNAMODB_TABLE`
(prefixable with the application name, e.g. `JOBS_DYNAMODB_TABLE`); `CREATE_TABLE=y`
creates the table when missing. One table (PK string, SK number) holds every
application's items, each key prefixed with the application name:

| item | PK | SK | attributes |
|---|---|---|---|
| event | `<app>#E#<originator id>` | version | topic, state, nid |
| notification | `<app>#N#<nid // 10000>` | nid | oid, ver, topic, state |
| counter | `<app>#N#HEAD` | 0 | last |
| tracking | `<app>#T#<upstream app>` | 0 | nid |

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
by botocore with backoff (`clients.py`); what is still throttled after that raises
EventStoreThrottled. A stored item with a missing or mistyped attribute raises
MalformedStoredEvent naming the aggregate and version (or the notification id).
"""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from botocore.exceptions import ClientError
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Notification,
    OperationalError,
    PersistenceError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from receipts.adapters.dynamodb.clients import dynamodb_client

BUCKET = 10_000
"""Notifications per partition (`<app>#N#<nid // BUCKET>`)."""
MAX_TRANSACT_ITEMS = 100
MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACT_BYTES = 4 * 1024 * 1024
MAX_HEAD_RETRIES = 50
RETRYABLE_CANCELLATIONS = frozenset(
    {"None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"}
    | {"ProvisionedThroughputExceeded"}
)
"""Cancellation reasons worth another attempt once no event or tracking condition failed:
the counter (or a notification id) moved on, or the items were busy."""


class EventStoreLimitExceeded(PersistenceError):
    """A save DynamoDB cannot write atomically (too many events, or an event too large)."""


class TableMissing(PersistenceError):
    """The configured table does not exist (and `CREATE_TABLE` is off)."""


class MalformedStoredEvent(PersistenceError):
    """A stored item lacks an attribute, or holds one of the wrong type."""


class EventStoreThrottled(OperationalError):
    """DynamoDB kept throttling a request after botocore's retries with backoff."""


THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


class DynamoDBDatastore:
    def __init__(self, table: str, app: str, dynamodb: Any) -> None:
        self.table = table
        self.app = app
        self.db = dynamodb

    def create_table(self) -> None:
        try:
            self.db.create_table(
                TableName=self.table,
                AttributeDefinitions=[
                    {"AttributeName": "PK", "AttributeType": "S"},
                    {"AttributeName": "SK", "AttributeType": "N"},
                ],
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise
        # another application may have just created it: wait until it is usable either way
        self.db.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )

    def call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.db, operation)(**kwargs)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "ResourceNotFoundException":
                raise TableMissing(
                    f"DynamoDB table {self.table!r} (event store of {self.app}) does not exist:"
                    " create it, or set CREATE_TABLE=y (RECEIPTS_CREATE_RESOURCES=true)"
                ) from None
            if code in THROTTLING_CODES:
                attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                raise EventStoreThrottled(
                    f"{self.app}: DynamoDB throttled {operation} on table {self.table!r}"
                    f" ({code}) after {attempts + 1} attempts with backoff: raise the table's"
                    " capacity, or AWS_MAX_ATTEMPTS to wait longer"
                ) from error
            raise


Item = dict[str, Any]
Write = tuple[str, Item]
"""(kind, TransactWriteItems entry); kind is event, notification, head or tracking."""


def attribute_bytes(name: str, value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one attribute (an upper bound for numbers)."""
    ((kind, data),) = value.items()
    size = len(name.encode())
    if kind == "B":
        return size + len(data)
    return size + len(str(data).encode())


def item_bytes(item: Item) -> int:
    return sum(attribute_bytes(name, value) for name, value in item.items())


class DynamoDBAggregateRecorder(AggregateRecorder):
    def __init__(self, datastore: DynamoDBDatastore, purpose: str = "events") -> None:
        self.datastore = datastore
        self.app = datastore.app
        self.prefix = f"{datastore.app}#{'E' if purpose == 'events' else purpose}#"

    def _event_pk(self, originator_id: UUID | str) -> str:
        return f"{self.prefix}{originator_id}"

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if stored_events:
            self._refuse_duplicates(stored_events)
            self._write(lambda: [self._put_event(event, None) for event in stored_events])
        return None

    def _refuse_duplicates(self, stored_events: Sequence[StoredEvent]) -> None:
        seen: set[tuple[str, int]] = set()
        for event in stored_events:
            key = (str(event.originator_id), event.originator_version)
            if key in seen:
                raise IntegrityError(
                    f"{self.app}: version {key[1]} of {key[0]} appears twice in one save"
                )
            seen.add(key)

    def _put_event(self, event: StoredEvent, nid: int | None) -> Write:
        item: Item = {
            "PK": {"S": self._event_pk(event.originator_id)},
            "SK": {"N": str(event.originator_version)},
            "topic": {"S": event.topic},
            "state": {"B": bytes(event.state)},
        }
        if nid is not None:
            item["nid"] = {"N": str(nid)}
        put = {
            "TableName": self.datastore.table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(PK)",
        }
        return "event", {"Put": put}

    def _write(self, build: Callable[[], list[Write]]) -> list[Write]:
        """Writes the items `build` returns in one transaction; on a lost race for the
        counter, rebuilds them (with fresh ids) and tries again, with jittered backoff."""
        for attempt in range(1, MAX_HEAD_RETRIES + 1):
            writes = build()
            self._check_limits(writes)
            try:
                self._transact([entry for _, entry in writes])
            except _Cancelled as cancelled:
                self._raise_unless_retryable(cancelled, writes)
                self._lost_race()
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
                continue
            return writes
        raise PersistenceError(
            f"{self.app}: gave up after {MAX_HEAD_RETRIES} saves lost the race for the"
            f" notification counter in table {self.datastore.table!r}"
        )

    def _lost_race(self) -> None:
        """Forgets what this recorder believed about the counter."""

    def _raise_unless_retryable(self, cancelled: _Cancelled, writes: list[Write]) -> None:
        failed = {
            writes[i][0]
            for i, code in enumerate(cancelled.codes)
            if code == "ConditionalCheckFailed" and i < len(writes)
        }
        if "event" in failed:
            versions = [
                f"{w[1]['Put']['Item']['PK']['S'].removeprefix(self.prefix)}"
                f" v{w[1]['Put']['Item']['SK']['N']}"
                for w, code in zip(writes, cancelled.codes, strict=False)
                if w[0] == "event" and code == "ConditionalCheckFailed"
            ]
            raise IntegrityError(
                f"{self.app}: already recorded (a concurrent save?): {', '.join(versions)}"
            )
        if "tracking" in failed:
            raise IntegrityError(
                f"{self.app}: the tracking position is not ahead of the one recorded"
            )
        unexpected = set(cancelled.codes) - RETRYABLE_CANCELLATIONS
        if unexpected or not cancelled.codes:
            raise PersistenceError(
                f"{self.app}: DynamoDB cancelled the save in table {self.datastore.table!r}:"
                f" {cancelled.codes or cancelled.message}"
            )

    def _check_limits(self, writes: list[Write]) -> None:
        if len(writes) > MAX_TRANSACT_ITEMS:
            events = sum(1 for kind, _ in writes if kind == "event")
            raise EventStoreLimitExceeded(
                f"{self.app}: a save of {events} events needs {len(writes)} items in one"
                f" DynamoDB transaction, which holds at most {MAX_TRANSACT_ITEMS} (each event"
                " is written with its notification): save fewer aggregates or events at once"
            )
        total = 0
        for kind, entry in writes:
            item = (entry.get("Put") or {}).get("Item")
            if item is None:
                continue
            size = item_bytes(item)
            total += size
            if size > MAX_ITEM_BYTES:
                raise EventStoreLimitExceeded(
                    f"{self.app}: {self._describe(kind, item)} is {size:,} bytes as a DynamoDB"
                    f" item, over the {MAX_ITEM_BYTES:,}-byte limit (400 KB): keep large"
                    " payloads in the artifact store and record their URI"
                )
        if total > MAX_TRANSACT_BYTES:
            raise EventStoreLimitExceeded(
                f"{self.app}: a save of {total:,} bytes is over the {MAX_TRANSACT_BYTES:,}-byte"
                " limit of one DynamoDB transaction (4 MB): save fewer or smaller events at once"
            )

    def _describe(self, kind: str, item: Item) -> str:
        if kind == "event":
            oid = item["PK"]["S"].removeprefix(self.prefix)
            return f"event v{item['SK']['N']} of {oid}"
        return f"the notification of event v{item['ver']['N']} of {item['oid']['S']}"

    def _transact(self, items: list[Item]) -> None:
        try:
            self.datastore.call("transact_write_items", TransactItems=items)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            message = error.response["Error"].get("Message", "")
            if code == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                raise _Cancelled([r.get("Code", "None") for r in reasons], message) from None
            if code == "ValidationException" and "size" in message.lower():
                raise EventStoreLimitExceeded(
                    f"{self.app}: DynamoDB refused the save as too large: {message}"
                ) from None
            raise

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        condition = "PK = :pk"
        values: dict[str, Any] = {":pk": {"S": self._event_pk(originator_id)}}
        if gt is not None and lte is not None:
            if lte <= gt:
                return []
            condition += " AND SK BETWEEN :lo AND :hi"
            values[":lo"] = {"N": str(gt + 1)}
            values[":hi"] = {"N": str(lte)}
        elif gt is not None:
            condition += " AND SK > :lo"
            values[":lo"] = {"N": str(gt)}
        elif lte is not None:
            condition += " AND SK <= :hi"
            values[":hi"] = {"N": str(lte)}
        return [
            self._stored_event(item, originator_id)
            for item in self._query(condition, values, desc=desc, limit=limit)
        ]

    def _stored_event(self, item: Item, originator_id: UUID | str) -> StoredEvent:
        version = item.get("SK", {}).get("N", "?")
        try:
            return StoredEvent(
                originator_id=originator_id,
                originator_version=int(version),
                topic=_read(item, "topic", "S"),
                state=_read(item, "state", "B"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedStoredEvent(
                f"{self.app}: stored event v{version} of {originator_id} in table"
                f" {self.datastore.table!r} is malformed: {error}"
            ) from None

    def _query(
        self,
        condition: str,
        values: dict[str, Any],
        *,
        desc: bool = False,
        limit: int | None = None,
        filter_expression: str | None = None,
    ) -> Iterator[Item]:
        kwargs: dict[str, Any] = {
            "TableName": self.datastore.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not desc,
            "ConsistentRead": True,
        }
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        if limit is not None and limit <= 0:
            return
        returned = 0
        while True:
            if limit is not None and not filter_expression:
                kwargs["Limit"] = limit - returned
            page = self.datastore.call("query", **kwargs)
            for item in page.get("Items", []):
                yield item
                returned += 1
                if limit is not None and returned >= limit:
                    return
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


def _read(item: Item, name: str, kind: str) -> Any:
    """One attribute of the expected DynamoDB type, or a KeyError/TypeError naming it."""
    if name not in item:
        raise KeyError(f"attribute {name!r} is missing")
    value = item[name]
    if kind not in value:
        raise TypeError(f"attribute {name!r} is {'/'.join(value)}, not {kind}")
    return value[kind]


class _Cancelled(Exception):
    def __init__(self, codes: list[str], message: str) -> None:
        super().__init__(f"transaction cancelled: {codes} {message}")
        self.codes = codes
        self.message = message


class DynamoDBApplicationRecorder(DynamoDBAggregateRecorder, ApplicationRecorder):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        super().__init__(datastore)
        self.head_key = {"PK": {"S": f"{self.app}#N#HEAD"}, "SK": {"N": "0"}}
        # the counter as this recorder last wrote or read it: a save starts from it and
        # rereads the counter only when another writer moved it on (one request per save)
        self._known_head: int | None = None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if not stored_events and tracking is None:
            return []
        self._refuse_duplicates(stored_events)

        def build() -> list[Write]:
            head = self._known_head
            if head is None:
                head = self.max_notification_id() or 0
            writes: list[Write] = []
            for nid, event in enumerate(stored_events, start=head + 1):
                writes.append(self._put_event(event, nid))
                writes.append(self._put_notification(event, nid))
            if stored_events:
                writes.append(self._advance_head(head, head + len(stored_events)))
            if tracking is not None:
                writes.append(self._advance_tracking(tracking))
            return writes

        writes = self._write(build)
        ids = [int(entry["Put"]["Item"]["nid"]["N"]) for kind, entry in writes if kind == "event"]
        if ids:
            self._known_head = ids[-1]
        return ids

    def _lost_race(self) -> None:
        self._known_head = None

    def _put_notification(self, event: StoredEvent, nid: int) -> Write:
        put = {
            "TableName": self.datastore.table,
            "Item": {
                "PK": {"S": f"{self.app}#N#{nid // BUCKET}"},
                "SK": {"N": str(nid)},
                "oid": {"S": str(event.originator_id)},
                "ver": {"N": str(event.originator_version)},
                "topic": {"S": event.topic},
                "state": {"B": bytes(event.state)},
            },
            "ConditionExpression": "attribute_not_exists(PK)",
        }
        return "notification", {"Put": put}

    def _advance_head(self, head: int, last: int) -> Write:
        update: dict[str, Any] = {
            "TableName": self.datastore.table,
            "Key": self.head_key,
            "UpdateExpression": "SET #last = :last",
            "ExpressionAttributeNames": {"#last": "last"},
            "ExpressionAttributeValues": {":last": {"N": str(last)}, ":head": {"N": str(head)}},
            "ConditionExpression": "#last = :head",
        }
        if head == 0:
            update["ConditionExpression"] = "attribute_not_exists(PK) OR #last = :head"
        return "head", {"Update": update}

    def _advance_tracking(self, tracking: Tracking) -> Write:
        return "tracking", {"Update": _tracking_update(self.datastore, tracking)}

    def max_notification_id(self) -> int | None:
        item = self.datastore.call(
            "get_item", TableName=self.datastore.table, Key=self.head_key, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        head = int(_read(item, "last", "N"))
        self._known_head = head
        return head

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        first = 1 if start is None else (start if inclusive_of_start else start + 1)
        first = max(first, 1)
        # The counter is read first: the transaction that set it had written every
        # notification up to it, so the range below is complete (no id is skipped).
        head = self.max_notification_id() or 0
        last = head if stop is None else min(stop, head)
        notifications: list[Notification] = []
        filter_expression = None
        topic_values: dict[str, Any] = {}
        if topics:
            names = [f":t{i}" for i in range(len(topics))]
            filter_expression = f"topic IN ({', '.join(names)})"
            topic_values = {name: {"S": topic} for name, topic in zip(names, topics, strict=True)}
        while first <= last and len(notifications) < limit:
            bucket = first // BUCKET
            hi = min(last, (bucket + 1) * BUCKET - 1)
            values = {
                ":pk": {"S": f"{self.app}#N#{bucket}"},
                ":lo": {"N": str(first)},
                ":hi": {"N": str(hi)},
                **topic_values,
            }
            for item in self._query(
                "PK = :pk AND SK BETWEEN :lo AND :hi",
                values,
                limit=limit - len(notifications),
                filter_expression=filter_expression,
            ):
                notifications.append(self._notification(item))
                if len(notifications) >= limit:
                    break
            first = (bucket + 1) * BUCKET
        return notifications

    def _notification(self, item: Item) -> Notification:
        nid = item.get("SK", {}).get("N", "?")
        try:
            oid = _read(item, "oid", "S")
            return Notification(
                id=int(nid),
                originator_id=_originator_id(oid),
                originator_version=int(_read(item, "ver", "N")),
                topic=_read(item, "topic", "S"),
                state=_read(item, "state", "B"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedStoredEvent(
                f"{self.app}: notification {nid} in table {self.datastore.table!r} is"
                f" malformed: {error}"
            ) from None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


def _originator_id(value: str) -> UUID | str:
    try:
        return UUID(value)
    except ValueError:
        return value


def _tracking_update(datastore: DynamoDBDatastore, tracking: Tracking) -> dict[str, Any]:
    return {
        "TableName": datastore.table,
        "Key": {"PK": {"S": f"{datastore.app}#T#{tracking.application_name}"}, "SK": {"N": "0"}},
        "UpdateExpression": "SET nid = :nid",
        "ConditionExpression": "attribute_not_exists(PK) OR nid < :nid",
        "ExpressionAttributeValues": {":nid": {"N": str(tracking.notification_id)}},
    }


class PollingSubscription(Subscription[ApplicationRecorder]):
    """Yields new notifications as they are recorded, polling (DynamoDB has no LISTEN)."""

    poll_interval = 0.2

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._buffer: list[Notification] = []

    def __next__(self) -> Notification:
        while not self._buffer or self._has_been_stopped:
            if self._has_been_stopped:
                raise StopIteration
            batch = self._recorder.select_notifications(
                start=self._last_notification_id or 0,
                limit=500,
                topics=self._topics,
                inclusive_of_start=False,
            )
            if batch:
                self._buffer = list(batch)
                self._last_notification_id = batch[-1].id
            else:
                time.sleep(self.poll_interval)
        return self._buffer.pop(0)


class DynamoDBTrackingRecorder(TrackingRecorder):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        self.datastore = datastore
        self.app = datastore.app

    def insert_tracking(self, tracking: Tracking) -> None:
        try:
            self.datastore.call("update_item", **_tracking_update(self.datastore, tracking))
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise IntegrityError(
                    f"{self.app}: tracking {tracking.application_name}"
                    f" {tracking.notification_id} is not ahead of the position recorded"
                ) from None
            raise

    def max_tracking_id(self, application_name: str) -> int | None:
        item = self.datastore.call(
            "get_item",
            TableName=self.datastore.table,
            Key={"PK": {"S": f"{self.app}#T#{application_name}"}, "SK": {"N": "0"}},
            ConsistentRead=True,
        ).get("Item")
        return int(_read(item, "nid", "N")) if item else None


class DynamoDBProcessRecorder(
    DynamoDBTrackingRecorder, DynamoDBApplicationRecorder, ProcessRecorder
):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        DynamoDBApplicationRecorder.__init__(self, datastore)


CLIENT_SETTINGS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
"""The environment a client depends on: factories that agree on it share one client."""

_TABLES_LOCK = threading.Lock()
_TABLES_CREATED: set[tuple[tuple[str | None, ...], str]] = set()


@functools.lru_cache(maxsize=8)
def _shared_client(key: tuple[str | None, ...]) -> Any:
    """One (thread-safe) boto3 client per configuration: a system of four applications
    opens seven factories, and building a client costs ~0.1-0.2 s (a Lambda cold start)."""
    return dynamodb_client(
        {name: value for name, value in zip(CLIENT_SETTINGS, key, strict=True) if value}
    )


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
        self.datastore = DynamoDBDatastore(table, app, _shared_client(key))
        if strtobool(self.env.get(self.CREATE_TABLE) or "no"):
            with _TABLES_LOCK:
                if (key, table) not in _TABLES_CREATED:
                    self.datastore.create_table()
                    _TABLES_CREATED.add((key, table))

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
