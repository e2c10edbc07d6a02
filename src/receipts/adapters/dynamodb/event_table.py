"""The event store's table: the client calls (errors named), item sizes, typed attribute
reads, and one shared client per AWS configuration."""

from __future__ import annotations

import functools
import threading
from typing import Any

from botocore.exceptions import ClientError

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.event_store_errors import (
    THROTTLING_CODES,
    EventStoreThrottled,
    TableMissing,
)

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


def read_attribute(item: Item, name: str, kind: str) -> Any:
    """One attribute of the expected DynamoDB type, or a KeyError/TypeError naming it."""
    if name not in item:
        raise KeyError(f"attribute {name!r} is missing")
    value = item[name]
    if kind not in value:
        raise TypeError(f"attribute {name!r} is {'/'.join(value)}, not {kind}")
    return value[kind]


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

TABLES_LOCK = threading.Lock()
TABLES_CREATED: set[tuple[tuple[str | None, ...], str]] = set()


@functools.lru_cache(maxsize=8)
def shared_client(key: tuple[str | None, ...]) -> Any:
    """One (thread-safe) boto3 client per configuration: a system of four applications
    opens seven factories, and building a client costs ~0.1-0.2 s (a Lambda cold start)."""
    return client(
        "dynamodb", {name: value for name, value in zip(CLIENT_SETTINGS, key, strict=True) if value}
    )
