"""An eventsourcing persistence module backed by DynamoDB.

Set `PERSISTENCE_MODULE=receipts.adapters.dynamodb.event_store` and `DYNAMODB_TABLE`
(prefixable with the application name, e.g. `JOBS_DYNAMODB_TABLE`). One table (PK string,
SK number) holds every application's items, each key prefixed with the application name:

| item | PK | SK | attributes |
|---|---|---|---|
| event | `<app>#E#<originator id>` | version | topic, state, nid |
| notification | `<app>#N#<nid // 10000>` | nid | oid, ver, topic, state |
| counter | `<app>#N#HEAD` | 0 | last |
| tracking | `<app>#T#<upstream app>` | 0 | nid |

A save is one TransactWriteItems: every event (conditional: that version is new), its
notification, the counter (conditional: it still holds the value read, so ids are gapless
and totally ordered), and the tracking record of a process application (conditional: it
moves forward). Version conflicts and repeated tracking raise the library's
IntegrityError; a lost race for the counter is retried. All reads are strongly consistent
Queries (never scans).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from botocore.exceptions import ClientError
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Notification,
    PersistenceError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType, strtobool

from receipts.adapters.dynamodb.clients import client

BUCKET = 10_000
MAX_ITEMS = 100
MAX_ITEM_BYTES = 350_000


class EventStoreLimitExceeded(PersistenceError):
    """A save DynamoDB cannot write atomically (too many events, or an event too large)."""


class TableMissing(PersistenceError):
    pass


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
            self.db.get_waiter("table_exists").wait(TableName=self.table)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise

    def call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.db, operation)(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                raise TableMissing(
                    f"DynamoDB table {self.table!r} (event store of {self.app}) does not exist"
                ) from None
            raise


class DynamoDBAggregateRecorder(AggregateRecorder):
    def __init__(self, datastore: DynamoDBDatastore, purpose: str = "events") -> None:
        self.datastore = datastore
        self.prefix = f"{datastore.app}#{'E' if purpose == 'events' else purpose}#"

    def _event_pk(self, originator_id: UUID | str) -> str:
        return f"{self.prefix}{originator_id}"

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        items = [self._put_event(event, None) for event in stored_events]
        self._check_limits(items)
        self._transact(items)
        return None

    def _put_event(self, event: StoredEvent, nid: int | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "PK": {"S": self._event_pk(event.originator_id)},
            "SK": {"N": str(event.originator_version)},
            "topic": {"S": event.topic},
            "state": {"B": bytes(event.state)},
        }
        if nid is not None:
            item["nid"] = {"N": str(nid)}
        return {
            "Put": {
                "TableName": self.datastore.table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    @staticmethod
    def _check_limits(items: list[dict[str, Any]]) -> None:
        if len(items) > MAX_ITEMS:
            raise EventStoreLimitExceeded(
                f"a save writes {len(items)} items; DynamoDB transactions hold at most {MAX_ITEMS}"
                " (about 49 events per save for an application): save fewer events at once"
            )
        for entry in items:
            put = entry.get("Put")
            if put is not None and len(put["Item"].get("state", {}).get("B", b"")) > MAX_ITEM_BYTES:
                raise EventStoreLimitExceeded(
                    f"an event of {put['Item']['PK']['S']} is larger than {MAX_ITEM_BYTES} bytes"
                    " (DynamoDB items hold at most 400 KB): store large payloads as artifacts"
                )

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self.datastore.call("transact_write_items", TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                codes = [r.get("Code", "None") for r in reasons]
                failed = [i for i, c in enumerate(codes) if c == "ConditionalCheckFailed"]
                raise _Cancelled(failed, codes) from None
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
            condition += " AND SK BETWEEN :lo AND :hi"
            values[":lo"] = {"N": str(gt + 1)}
            values[":hi"] = {"N": str(lte)}
        elif gt is not None:
            condition += " AND SK > :lo"
            values[":lo"] = {"N": str(gt)}
        elif lte is not None:
            condition += " AND SK <= :hi"
            values[":hi"] = {"N": str(lte)}
        events = []
        for item in self._query(condition, values, desc=desc, limit=limit):
            events.append(
                StoredEvent(
                    originator_id=originator_id,
                    originator_version=int(item["SK"]["N"]),
                    topic=item["topic"]["S"],
                    state=item["state"]["B"],
                )
            )
        return events

    def _query(
        self,
        condition: str,
        values: dict[str, Any],
        *,
        desc: bool = False,
        limit: int | None = None,
        filter_expression: str | None = None,
        names: dict[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.datastore.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not desc,
            "ConsistentRead": True,
        }
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        if names:
            kwargs["ExpressionAttributeNames"] = names
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


class _Cancelled(Exception):
    def __init__(self, failed: list[int], codes: list[str]) -> None:
        super().__init__(f"transaction cancelled: {codes}")
        self.failed = failed
        self.codes = codes


class DynamoDBApplicationRecorder(DynamoDBAggregateRecorder, ApplicationRecorder):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        super().__init__(datastore)
        self.app = datastore.app
        self.head_key = {"PK": {"S": f"{self.app}#N#HEAD"}, "SK": {"N": "0"}}

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if not stored_events and tracking is None:
            return []
        attempt = 0
        while True:
            head = self.max_notification_id() or 0
            ids = list(range(head + 1, head + 1 + len(stored_events)))
            items = [
                self._put_event(event, nid) for event, nid in zip(stored_events, ids, strict=True)
            ]
            items += [
                self._put_notification(event, nid)
                for event, nid in zip(stored_events, ids, strict=True)
            ]
            if stored_events:
                items.append(self._advance_head(head, ids[-1]))
            if tracking is not None:
                items.append(self._advance_tracking(tracking))
            self._check_limits(items)
            try:
                self._transact(items)
            except _Cancelled as cancelled:
                kinds = {self._kind(items[i]) for i in cancelled.failed}
                if "event" in kinds:
                    raise IntegrityError(
                        f"{self.app}: an event version already exists (concurrent save?)"
                    ) from None
                if "tracking" in kinds:
                    raise IntegrityError(
                        f"{self.app}: tracking {tracking} is not ahead of the recorded position"
                    ) from None
                attempt += 1
                if attempt > 50:
                    raise PersistenceError(
                        f"{self.app}: gave up after {attempt} conflicting saves"
                    ) from None
                time.sleep(min(0.5, 0.005 * 2 ** min(attempt, 7)))
                continue
            return ids

    @staticmethod
    def _kind(item: dict[str, Any]) -> str:
        entry = item.get("Put") or item.get("Update") or {}
        pk = (entry.get("Item") or entry.get("Key") or {}).get("PK", {}).get("S", "")
        if "#E#" in pk:
            return "event"
        if pk.endswith("#N#HEAD"):
            return "head"
        if "#N#" in pk:
            return "notification"
        return "tracking"

    def _put_notification(self, event: StoredEvent, nid: int) -> dict[str, Any]:
        return {
            "Put": {
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
        }

    def _advance_head(self, head: int, last: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.datastore.table,
            "Key": self.head_key,
            "UpdateExpression": "SET #last = :last",
            "ExpressionAttributeNames": {"#last": "last"},
            "ExpressionAttributeValues": {":last": {"N": str(last)}, ":head": {"N": str(head)}},
        }
        if head == 0:
            update["ConditionExpression"] = "attribute_not_exists(PK) OR #last = :head"
        else:
            update["ConditionExpression"] = "#last = :head"
        return {"Update": update}

    def _advance_tracking(self, tracking: Tracking) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.datastore.table,
                "Key": {"PK": {"S": f"{self.app}#T#{tracking.application_name}"}, "SK": {"N": "0"}},
                "UpdateExpression": "SET nid = :nid",
                "ConditionExpression": "attribute_not_exists(PK) OR nid < :nid",
                "ExpressionAttributeValues": {":nid": {"N": str(tracking.notification_id)}},
            }
        }

    def max_notification_id(self) -> int | None:
        item = self.datastore.call(
            "get_item", TableName=self.datastore.table, Key=self.head_key, ConsistentRead=True
        ).get("Item")
        return int(item["last"]["N"]) if item else None

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
        head = self.max_notification_id() or 0
        last = head if stop is None else min(stop, head)
        notifications: list[Notification] = []
        filter_expression = None
        values_topics: dict[str, Any] = {}
        if topics:
            names = [f":t{i}" for i in range(len(topics))]
            filter_expression = f"topic IN ({', '.join(names)})"
            values_topics = {name: {"S": topic} for name, topic in zip(names, topics, strict=True)}
        bucket = first // BUCKET
        while first <= last and len(notifications) < limit:
            hi = min(last, (bucket + 1) * BUCKET - 1)
            if first <= hi:
                values = {
                    ":pk": {"S": f"{self.app}#N#{bucket}"},
                    ":lo": {"N": str(first)},
                    ":hi": {"N": str(hi)},
                    **values_topics,
                }
                for item in self._query(
                    "PK = :pk AND SK BETWEEN :lo AND :hi",
                    values,
                    limit=limit - len(notifications),
                    filter_expression=filter_expression,
                ):
                    notifications.append(
                        Notification(
                            id=int(item["SK"]["N"]),
                            originator_id=UUID(item["oid"]["S"]),
                            originator_version=int(item["ver"]["N"]),
                            topic=item["topic"]["S"],
                            state=item["state"]["B"],
                        )
                    )
                    if len(notifications) >= limit:
                        break
            bucket += 1
            first = bucket * BUCKET
        return notifications

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


class PollingSubscription(Subscription[ApplicationRecorder]):
    """Yields new notifications as they are recorded, polling (DynamoDB has no LISTEN)."""

    poll_interval = 0.2

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._buffer: list[Notification] = []

    def __next__(self) -> Notification:
        while not self._buffer:
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
            self.datastore.call(
                "update_item",
                TableName=self.datastore.table,
                Key={"PK": {"S": f"{self.app}#T#{tracking.application_name}"}, "SK": {"N": "0"}},
                UpdateExpression="SET nid = :nid",
                ConditionExpression="attribute_not_exists(PK) OR nid < :nid",
                ExpressionAttributeValues={":nid": {"N": str(tracking.notification_id)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise IntegrityError(
                    f"tracking {tracking} is not ahead of the recorded position"
                ) from None
            raise

    def max_tracking_id(self, application_name: str) -> int | None:
        item = self.datastore.call(
            "get_item",
            TableName=self.datastore.table,
            Key={"PK": {"S": f"{self.app}#T#{application_name}"}, "SK": {"N": "0"}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["nid"]["N"]) if item else None


class DynamoDBProcessRecorder(
    DynamoDBTrackingRecorder, DynamoDBApplicationRecorder, ProcessRecorder
):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        DynamoDBApplicationRecorder.__init__(self, datastore)


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
        self.datastore = DynamoDBDatastore(table, app, client("dynamodb", settings))
        if strtobool(self.env.get(self.CREATE_TABLE) or "no"):
            self.datastore.create_table()

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return DynamoDBAggregateRecorder(self.datastore, purpose)

    def application_recorder(self) -> ApplicationRecorder:
        return DynamoDBApplicationRecorder(self.datastore)

    def tracking_recorder(
        self, tracking_recorder_class: type[DynamoDBTrackingRecorder] | None = None
    ) -> DynamoDBTrackingRecorder:
        return (tracking_recorder_class or DynamoDBTrackingRecorder)(self.datastore)

    def process_recorder(self) -> ProcessRecorder:
        return DynamoDBProcessRecorder(self.datastore)


Factory = DynamoDBFactory
