"""One DynamoDB table as the adapters use it: creation, calls that name a missing table, paged
reads (boto3's paginators), batched writes, item sizes, and attribute values made from Python
values and back (boto3's TypeSerializer / TypeDeserializer). Item keys: `keys`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, NoReturn

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from eventsourcing.persistence import PersistenceError

from receipts.application.ports.resources import ResourceMissing

Item = dict[str, Any]
"""An item as the client sends and returns it: attribute name → {type: value}."""

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB refuses an item larger than this (attribute names and values together)."""

BATCH_SIZE = 25
"""BatchWriteItem takes at most 25 requests."""

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()


class TableMissing(ResourceMissing, PersistenceError):
    """The configured table does not exist (for the event store, a PersistenceError too)."""

    def __init__(self, table: str, purpose: str) -> None:
        super().__init__(
            f"DynamoDB table {table!r} ({purpose}) does not exist: create it, or set"
            " RECEIPTS_CREATE_RESOURCES=true (CREATE_TABLE=y)"
        )
        self.table = table


class ItemTooLarge(ValueError):
    def __init__(self, table: str, item: Item, size: int) -> None:
        super().__init__(
            f"DynamoDB table {table!r}: item {item['PK']['S']} / {item['SK']['S']} is"
            f" {size:,} bytes, over DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit"
        )


class UnprocessedItems(RuntimeError):
    """BatchWriteItem kept leaving items unprocessed (throttling) after every retry."""


def to_item(values: Mapping[str, Any]) -> Item:
    """Attribute values of Python values; None is left out, a float is the Decimal of its
    repr (TypeSerializer refuses floats)."""
    return {name: SERIALIZER.serialize(_decimal(v)) for name, v in values.items() if v is not None}


def from_item(item: Item) -> dict[str, Any]:
    """Python values of an item: numbers are Decimal, binary values `Binary`."""
    return {name: DESERIALIZER.deserialize(value) for name, value in item.items()}


def _decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [_decimal(element) for element in value]
    if isinstance(value, dict):
        return {key: _decimal(element) for key, element in value.items()}
    return value


class Table:
    """Calls on one table; a missing table raises `TableMissing` naming it and its purpose."""

    def __init__(self, db: Any, name: str, purpose: str) -> None:
        self.db = db
        self.name = name
        self.purpose = purpose
        self.writes = 0
        """Items written (put, updated or deleted) through this object: a measure of cost."""

    def create(self, sort_key_type: str = "S", indexes: Sequence[str] = ()) -> None:
        """Creates the table, on demand: PK (string), SK, and per index a global secondary
        index `<index>PK` / `<index>SK` (strings) projecting every attribute. An existing table
        is kept; either way this waits until the table is usable (another process may have
        just created it)."""
        types = {"PK": "S", "SK": sort_key_type}
        types |= {f"{index}{part}": "S" for index in indexes for part in ("PK", "SK")}
        global_indexes = [
            {
                "IndexName": index,
                "KeySchema": _key_schema(index),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in indexes
        ]
        try:
            self.db.create_table(
                TableName=self.name,
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": kind} for name, kind in types.items()
                ],
                KeySchema=_key_schema(""),
                BillingMode="PAY_PER_REQUEST",
                **({"GlobalSecondaryIndexes": global_indexes} if indexes else {}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise
        self.db.get_waiter("table_exists").wait(
            TableName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )

    def call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.db, operation)(**kwargs)
        except ClientError as error:
            self.refuse(error, operation)

    def refuse(self, error: ClientError, operation: str) -> NoReturn:
        """Raises what a failed call means: `TableMissing`, or else the error itself."""
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise TableMissing(self.name, self.purpose) from None
        raise error

    def get(self, key: Mapping[str, Any]) -> Item | None:
        item: Item | None = self.call(
            "get_item", TableName=self.name, Key=to_item(key), ConsistentRead=True
        ).get("Item")
        return item

    def items(self, operation: str, *, limit: int | None = None, **kwargs: Any) -> Iterator[Item]:
        """Every item a `query` or `scan` returns, page after page, up to `limit`; strongly
        consistent unless it reads an index."""
        if limit is not None and limit <= 0:
            return
        if "IndexName" not in kwargs:
            kwargs["ConsistentRead"] = True
        config: dict[str, int] = {}
        if limit is not None:
            config["MaxItems"] = limit
            if "FilterExpression" not in kwargs:  # a page's Limit counts items before a filter
                config["PageSize"] = limit
        pages = self.db.get_paginator(operation).paginate(
            TableName=self.name, PaginationConfig=config, **kwargs
        )
        try:
            for page in pages:
                yield from page["Items"]
        except ClientError as error:
            self.refuse(error, operation)

    def query(
        self,
        condition: str,
        values: Mapping[str, Any],
        *,
        index: str = "",
        desc: bool = False,
        limit: int | None = None,
        **kwargs: Any,
    ) -> Iterator[Item]:
        """The items of a Query on the table (or `index`): `condition` on the keys, `values`
        the Python values of its (and a FilterExpression's) `:placeholders`."""
        if index:
            kwargs["IndexName"] = index
        return self.items(
            "query",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=to_item(values),
            ScanIndexForward=not desc,
            limit=limit,
            **kwargs,
        )

    def update(
        self, key: Mapping[str, Any], expression: str, values: Mapping[str, Any], **kwargs: Any
    ) -> Any:
        """One UpdateItem; `values` are the Python values of the `:placeholders`."""
        answer = self.call(
            "update_item",
            TableName=self.name,
            Key=to_item(key),
            UpdateExpression=expression,
            ExpressionAttributeValues=to_item(values),
            **kwargs,
        )
        self.writes += 1
        return answer

    def put(self, item: Item, **conditions: Any) -> bool:
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
        self, puts: Sequence[Item] = (), deletes: Sequence[Item] = (), *, attempts: int = 8
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

    def _check_size(self, item: Item) -> None:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise ItemTooLarge(self.name, item, size)


def _key_schema(index: str) -> list[dict[str, str]]:
    return [
        {"AttributeName": f"{index}PK", "KeyType": "HASH"},
        {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
    ]


def item_size(item: Item) -> int:
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
