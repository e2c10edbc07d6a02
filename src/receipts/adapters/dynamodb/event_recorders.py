"""The recorders of the DynamoDB event store (layout and guarantees: `event_store`)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from botocore.exceptions import ClientError
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    IntegrityError,
    Notification,
    PersistenceError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)

from receipts.adapters.dynamodb.event_store_errors import (
    EventStoreLimitExceeded,
    MalformedStoredEvent,
)
from receipts.adapters.dynamodb.event_table import (
    DynamoDBDatastore,
    Item,
    Write,
    item_bytes,
    read_attribute,
)
from receipts.adapters.dynamodb.polling_subscription import PollingSubscription

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
                topic=read_attribute(item, "topic", "S"),
                state=read_attribute(item, "state", "B"),
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
        # A whole-item Put, not an Update: both are atomic on DynamoDB, but moto applies an
        # Update that creates an item as a key-only put followed by the SET, and a reader in
        # between saw a counter without `last` (issue 20). The counter item holds nothing else.
        put = {
            "TableName": self.datastore.table,
            "Item": {**self.head_key, "last": {"N": str(last)}},
            "ConditionExpression": "#last = :head",
            "ExpressionAttributeNames": {"#last": "last"},
            "ExpressionAttributeValues": {":head": {"N": str(head)}},
        }
        if head == 0:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
            del put["ExpressionAttributeNames"], put["ExpressionAttributeValues"]
        return "head", {"Put": put}

    def _advance_tracking(self, tracking: Tracking) -> Write:
        return "tracking", {"Put": _tracking_put(self.datastore, tracking)}

    def max_notification_id(self) -> int | None:
        item = self.datastore.call(
            "get_item", TableName=self.datastore.table, Key=self.head_key, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        head = int(read_attribute(item, "last", "N"))
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
            oid = read_attribute(item, "oid", "S")
            return Notification(
                id=int(nid),
                originator_id=_originator_id(oid),
                originator_version=int(read_attribute(item, "ver", "N")),
                topic=read_attribute(item, "topic", "S"),
                state=read_attribute(item, "state", "B"),
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


def _tracking_put(datastore: DynamoDBDatastore, tracking: Tracking) -> dict[str, Any]:
    """The tracking position as a whole item (a Put, for the reason `_advance_head` gives)."""
    return {
        "TableName": datastore.table,
        "Item": {
            "PK": {"S": f"{datastore.app}#T#{tracking.application_name}"},
            "SK": {"N": "0"},
            "nid": {"N": str(tracking.notification_id)},
        },
        "ConditionExpression": "attribute_not_exists(PK) OR nid < :nid",
        "ExpressionAttributeValues": {":nid": {"N": str(tracking.notification_id)}},
    }


class DynamoDBTrackingRecorder(TrackingRecorder):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        self.datastore = datastore
        self.app = datastore.app

    def insert_tracking(self, tracking: Tracking) -> None:
        try:
            self.datastore.call("put_item", **_tracking_put(self.datastore, tracking))
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
        return int(read_attribute(item, "nid", "N")) if item else None


class DynamoDBProcessRecorder(
    DynamoDBTrackingRecorder, DynamoDBApplicationRecorder, ProcessRecorder
):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        DynamoDBApplicationRecorder.__init__(self, datastore)
