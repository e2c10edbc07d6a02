"""The seeds' single table: its key schema, creation, batched writes, paged queries, item sizes.

One table (PK, SK strings) with two overloaded global secondary indexes, GSI1 (GSI1PK,
GSI1SK) and GSI2 (GSI2PK, GSI2SK), both projecting every attribute. The job read model and
the label store share it; each module's docstring lists the items it writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from receipts.domain.errors import InvalidInput

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB refuses an item larger than this (attribute names and values together)."""

BATCH_SIZE = 25
"""BatchWriteItem takes at most 25 requests."""

INDEXES = ("GSI1", "GSI2")


class TableMissing(InvalidInput, LookupError):
    """A wrong table name is bad input: a job reading its labels from it fails with this."""

    def __init__(self, table: str, purpose: str) -> None:
        super().__init__(f"DynamoDB table {table!r}", [f"it does not exist ({purpose})"])
        self.table = table


class ItemTooLarge(ValueError):
    def __init__(self, table: str, item: dict[str, Any], size: int) -> None:
        super().__init__(
            f"DynamoDB table {table!r}: item {item['PK']['S']} / {item['SK']['S']} is"
            f" {size:,} bytes, over DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit"
        )


class UnprocessedItems(RuntimeError):
    """BatchWriteItem kept leaving items unprocessed (throttling) after every retry."""


def sortable(moment: datetime) -> str:
    """ISO 8601 in UTC with `+00:00` and always six fractional digits, so that string order is
    time order (`isoformat` drops a zero fraction, which sorts wrongly within one second)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def create_table(db: Any, table: str) -> None:
    """Creates the table and both indexes (on-demand billing); an existing table is kept."""
    key_names = ["PK", "SK"] + [f"{index}{part}" for index in INDEXES for part in ("PK", "SK")]
    try:
        db.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in key_names],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": f"{index}PK", "KeyType": "HASH"},
                        {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in INDEXES
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        db.get_waiter("table_exists").wait(TableName=table)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise


class Table:
    """Calls on one table that turn a missing table into `TableMissing`."""

    def __init__(self, db: Any, name: str, purpose: str) -> None:
        self.db = db
        self.name = name
        self.purpose = purpose
        self.writes = 0
        """Items written (put, updated or deleted) through this object: a measure of cost."""

    def call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.db, operation)(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                raise TableMissing(self.name, self.purpose) from None
            raise

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.call(
            "get_item",
            TableName=self.name,
            Key={"PK": {"S": pk}, "SK": {"S": sk}},
            ConsistentRead=True,
        ).get("Item")
        return item

    def query(self, *, limit: int | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query returns, page after page (up to `limit` items)."""
        kwargs = {"TableName": self.name, **kwargs}
        if "IndexName" not in kwargs:
            kwargs["ConsistentRead"] = True
        if limit is not None:
            kwargs["Limit"] = limit
        returned = 0
        while True:
            page = self.call("query", **kwargs)
            for item in page.get("Items", []):
                yield item
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs = {"TableName": self.name, "ConsistentRead": True, **kwargs}
        while True:
            page = self.call("scan", **kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put(self, item: dict[str, Any], **conditions: Any) -> bool:
        """Puts one item; with a ConditionExpression, returns False when the condition fails."""
        self._check_size(item)
        try:
            self.call("put_item", TableName=self.name, Item=item, **conditions)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        self.writes += 1
        return True

    def write_batch(
        self,
        puts: Sequence[dict[str, Any]] = (),
        deletes: Sequence[dict[str, Any]] = (),
        *,
        attempts: int = 8,
    ) -> None:
        """BatchWriteItem in chunks of 25, retrying unprocessed items with backoff."""
        for item in puts:
            self._check_size(item)
        requests = [{"PutRequest": {"Item": item}} for item in puts]
        requests += [{"DeleteRequest": {"Key": key}} for key in deletes]
        for start in range(0, len(requests), BATCH_SIZE):
            pending = requests[start : start + BATCH_SIZE]
            for attempt in range(attempts):
                answer = self.call("batch_write_item", RequestItems={self.name: pending})
                left = answer.get("UnprocessedItems", {}).get(self.name, [])
                self.writes += len(pending) - len(left)
                if not left:
                    break
                pending = left
                time.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise UnprocessedItems(
                    f"DynamoDB table {self.name!r}: {len(pending)} item(s) still unprocessed"
                    f" after {attempts} attempts (throttled?)"
                )

    def _check_size(self, item: dict[str, Any]) -> None:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise ItemTooLarge(self.name, item, size)


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB counts for an item in the low-level format (names plus values)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    [(kind, payload)] = value.items()
    if kind == "S":
        return len(payload.encode())
    if kind == "N":
        return len(payload.lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(payload)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in payload)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in payload.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in payload)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")
