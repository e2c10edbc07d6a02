"""The recorders of the DynamoDB event store (layout and guarantees: `event_store`)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple
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

from receipts.adapters.dynamodb import keys
from receipts.adapters.dynamodb.event_store_errors import (
    EventStoreLimitExceeded,
    MalformedStoredEvent,
)
from receipts.adapters.dynamodb.event_table import DynamoDBDatastore, read_attribute
from receipts.adapters.dynamodb.polling_subscription import PollingSubscription
from receipts.adapters.dynamodb.table import MAX_ITEM_BYTES, Item, item_size, to_item

MAX_TRANSACT_ITEMS = 100
MAX_TRANSACT_BYTES = 4 * 1024 * 1024
MAX_HEAD_RETRIES = 50
RETRYABLE_CANCELLATIONS = frozenset(
    {"None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"}
    | {"ProvisionedThroughputExceeded"}
)
"""Cancellation reasons worth another attempt once no event or tracking condition failed:
the counter (or a notification id) moved on, or the items were busy."""


class Write(NamedTuple):
    """One Put of a TransactWriteItems, with the event it writes (to name it in errors)."""

    kind: str
    """event, notification, head or tracking"""
    put: dict[str, Any]
    event: StoredEvent | None = None
    nid: int | None = None


def _put(item: Mapping[str, Any], condition: str, **values: Any) -> dict[str, Any]:
    """A conditional Put of Python values; `values` fill the condition's `:placeholders`."""
    put = {"Item": to_item(item), "ConditionExpression": condition}
    if values:
        put["ExpressionAttributeValues"] = to_item({f":{k}": v for k, v in values.items()})
    return put


class DynamoDBAggregateRecorder(AggregateRecorder):
    def __init__(self, datastore: DynamoDBDatastore, purpose: str = "events") -> None:
        self.datastore = datastore
        self.app = datastore.app
        self.purpose = purpose

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
        key = keys.event_key(self.app, self.purpose, event.originator_id, event.originator_version)
        item = {**key, "topic": event.topic, "state": bytes(event.state), "nid": nid}
        return Write("event", _put(item, "attribute_not_exists(PK)"), event, nid)

    def _write(self, build: Callable[[], list[Write]]) -> list[Write]:
        """Writes the items `build` returns in one transaction; on a lost race for the
        counter, rebuilds them (with fresh ids) and tries again, with jittered backoff."""
        for attempt in range(1, MAX_HEAD_RETRIES + 1):
            writes = build()
            self._check_limits(writes)
            items = [{"Put": {"TableName": self.datastore.name, **w.put}} for w in writes]
            try:
                self.datastore.call("transact_write_items", TransactItems=items)
            except ClientError as error:
                self._raise_unless_retryable(error, writes)
                self._lost_race()
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
                continue
            return writes
        raise PersistenceError(
            f"{self.app}: gave up after {MAX_HEAD_RETRIES} saves lost the race for the"
            f" notification counter in table {self.datastore.name!r}"
        )

    def _lost_race(self) -> None:
        """Forgets what this recorder believed about the counter."""

    def _raise_unless_retryable(self, error: ClientError, writes: list[Write]) -> None:
        """Raises what a failed transaction means, unless it lost a race worth retrying."""
        code = error.response["Error"]["Code"]
        message = error.response["Error"].get("Message", "")
        if code == "ValidationException" and "size" in message.lower():
            raise EventStoreLimitExceeded(
                f"{self.app}: DynamoDB refused the save as too large: {message}"
            ) from None
        if code != "TransactionCanceledException":
            raise error
        reasons = error.response.get("CancellationReasons") or []
        codes = [reason.get("Code", "None") for reason in reasons]
        failed = [
            write
            for write, reason in zip(writes, codes, strict=False)
            if reason == "ConditionalCheckFailed"
        ]
        versions = [
            f"{write.event.originator_id} v{write.event.originator_version}"
            for write in failed
            if write.kind == "event" and write.event
        ]
        if versions:
            raise IntegrityError(
                f"{self.app}: already recorded (a concurrent save?): {', '.join(versions)}"
            )
        if any(write.kind == "tracking" for write in failed):
            raise IntegrityError(
                f"{self.app}: the tracking position is not ahead of the one recorded"
            )
        if not codes or set(codes) - RETRYABLE_CANCELLATIONS:
            raise PersistenceError(
                f"{self.app}: DynamoDB cancelled the save in table {self.datastore.name!r}:"
                f" {codes or message}"
            )

    def _check_limits(self, writes: list[Write]) -> None:
        if len(writes) > MAX_TRANSACT_ITEMS:
            events = sum(1 for write in writes if write.kind == "event")
            raise EventStoreLimitExceeded(
                f"{self.app}: a save of {events} events needs {len(writes)} items in one"
                f" DynamoDB transaction, which holds at most {MAX_TRANSACT_ITEMS} (each event"
                " is written with its notification): save fewer aggregates or events at once"
            )
        total = 0
        for write in writes:
            size = item_size(write.put["Item"])
            total += size
            if size > MAX_ITEM_BYTES:
                raise EventStoreLimitExceeded(
                    f"{self.app}: {_describe(write)} is {size:,} bytes as a DynamoDB"
                    f" item, over the {MAX_ITEM_BYTES:,}-byte limit (400 KB): keep large"
                    " payloads in the artifact store and record their URI"
                )
        if total > MAX_TRANSACT_BYTES:
            raise EventStoreLimitExceeded(
                f"{self.app}: a save of {total:,} bytes is over the {MAX_TRANSACT_BYTES:,}-byte"
                " limit of one DynamoDB transaction (4 MB): save fewer or smaller events at once"
            )

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
        values: dict[str, Any] = {
            ":pk": keys.event_partition(self.app, self.purpose, originator_id)
        }
        if gt is not None and lte is not None:
            if lte <= gt:
                return []
            condition += " AND SK BETWEEN :lo AND :hi"
            values |= {":lo": gt + 1, ":hi": lte}
        elif gt is not None:
            condition += " AND SK > :lo"
            values[":lo"] = gt
        elif lte is not None:
            condition += " AND SK <= :hi"
            values[":hi"] = lte
        return [
            self._stored_event(item, originator_id)
            for item in self.datastore.query(condition, values, desc=desc, limit=limit)
        ]

    def _stored_event(self, item: Item, originator_id: UUID | str) -> StoredEvent:
        version = item.get("SK", {}).get("N", "?")
        with self._malformed(f"stored event v{version} of {originator_id}"):
            return StoredEvent(
                originator_id=originator_id,
                originator_version=int(version),
                topic=read_attribute(item, "topic", "S"),
                state=read_attribute(item, "state", "B"),
            )

    @contextmanager
    def _malformed(self, what: str) -> Iterator[None]:
        """Raises MalformedStoredEvent naming `what` for an attribute missing or mistyped."""
        try:
            yield
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedStoredEvent(
                f"{self.app}: {what} in table {self.datastore.name!r} is malformed: {error}"
            ) from None


class DynamoDBApplicationRecorder(DynamoDBAggregateRecorder, ApplicationRecorder):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        super().__init__(datastore)
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
                writes.append(Write("tracking", _tracking_put(self.app, tracking)))
            return writes

        writes = self._write(build)
        ids = [write.nid for write in writes if write.kind == "event" and write.nid is not None]
        if ids:
            self._known_head = ids[-1]
        return ids

    def _lost_race(self) -> None:
        self._known_head = None

    def _put_notification(self, event: StoredEvent, nid: int) -> Write:
        item = {
            **keys.notification_key(self.app, nid),
            "oid": str(event.originator_id),
            "ver": event.originator_version,
            "topic": event.topic,
            "state": bytes(event.state),
        }
        return Write("notification", _put(item, "attribute_not_exists(PK)"), event)

    def _advance_head(self, head: int, last: int) -> Write:
        # A whole-item Put, not an Update: both are atomic on DynamoDB, but moto applies an
        # Update that creates an item as a key-only put followed by the SET, and a reader in
        # between saw a counter without `last` (issue 20). The counter item holds nothing else.
        item = {**keys.counter_key(self.app), "last": last}
        if head == 0:
            return Write("head", _put(item, "attribute_not_exists(PK)"))
        put = _put(item, "#last = :head", head=head)
        return Write("head", put | {"ExpressionAttributeNames": {"#last": "last"}})

    def max_notification_id(self) -> int | None:
        item = self.datastore.get(keys.counter_key(self.app))
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
        topic_values = {f":t{i}": topic for i, topic in enumerate(topics)}
        topic_filter: dict[str, Any] = {}
        if topics:
            topic_filter["FilterExpression"] = f"topic IN ({', '.join(topic_values)})"
        bucket_size = keys.NOTIFICATION_BUCKET
        while first <= last and len(notifications) < limit:
            bucket = first // bucket_size
            values = {
                ":pk": keys.notification_partition(self.app, first),
                ":lo": first,
                ":hi": min(last, (bucket + 1) * bucket_size - 1),
                **topic_values,
            }
            items = self.datastore.query(
                "PK = :pk AND SK BETWEEN :lo AND :hi",
                values,
                limit=limit - len(notifications),
                **topic_filter,
            )
            notifications += [self._notification(item) for item in items]
            first = (bucket + 1) * bucket_size
        return notifications

    def _notification(self, item: Item) -> Notification:
        nid = item.get("SK", {}).get("N", "?")
        with self._malformed(f"notification {nid}"):
            return Notification(
                id=int(nid),
                originator_id=_originator_id(read_attribute(item, "oid", "S")),
                originator_version=int(read_attribute(item, "ver", "N")),
                topic=read_attribute(item, "topic", "S"),
                state=read_attribute(item, "state", "B"),
            )

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


def _originator_id(value: str) -> UUID | str:
    try:
        return UUID(value)
    except ValueError:
        return value


def _tracking_put(app: str, tracking: Tracking) -> dict[str, Any]:
    """The tracking position as a whole item (a Put, for the reason `_advance_head` gives)."""
    nid = tracking.notification_id
    item = {**keys.tracking_key(app, tracking.application_name), "nid": nid}
    return _put(item, "attribute_not_exists(PK) OR nid < :nid", nid=nid)


class DynamoDBTrackingRecorder(TrackingRecorder):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        self.datastore = datastore
        self.app = datastore.app

    def insert_tracking(self, tracking: Tracking) -> None:
        put = _tracking_put(self.app, tracking)
        if not self.datastore.put(put.pop("Item"), **put):
            raise IntegrityError(
                f"{self.app}: tracking {tracking.application_name}"
                f" {tracking.notification_id} is not ahead of the position recorded"
            )

    def max_tracking_id(self, application_name: str) -> int | None:
        item = self.datastore.get(keys.tracking_key(self.app, application_name))
        return int(read_attribute(item, "nid", "N")) if item else None


class DynamoDBProcessRecorder(
    DynamoDBTrackingRecorder, DynamoDBApplicationRecorder, ProcessRecorder
):
    def __init__(self, datastore: DynamoDBDatastore) -> None:
        DynamoDBApplicationRecorder.__init__(self, datastore)


def _describe(write: Write) -> str:
    if write.event is None:
        return f"the {write.kind} item"
    described = f"event v{write.event.originator_version} of {write.event.originator_id}"
    return described if write.kind == "event" else f"the notification of {described}"
