"""The event store's table (errors named with the application) and one shared client per
AWS configuration."""

from __future__ import annotations

import functools
import threading
from typing import Any, NoReturn

from botocore.exceptions import ClientError

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb.event_store_errors import THROTTLING_CODES, EventStoreThrottled
from receipts.adapters.dynamodb.table import Item, Table


class DynamoDBDatastore(Table):
    def __init__(self, table: str, app: str, dynamodb: Any) -> None:
        super().__init__(dynamodb, table, f"event store of {app}")
        self.app = app

    def create_table(self) -> None:
        self.create(sort_key_type="N")

    def refuse(self, error: ClientError, operation: str) -> NoReturn:
        code = error.response["Error"]["Code"]
        if code in THROTTLING_CODES:
            attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            raise EventStoreThrottled(
                f"{self.app}: DynamoDB throttled {operation} on table {self.name!r}"
                f" ({code}) after {attempts + 1} attempts with backoff: raise the table's"
                " capacity, or AWS_MAX_ATTEMPTS to wait longer"
            ) from error
        super().refuse(error, operation)


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
