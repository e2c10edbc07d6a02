"""What the DynamoDB event store raises beyond the library's IntegrityError."""

from __future__ import annotations

from eventsourcing.persistence import OperationalError, PersistenceError

from receipts.application.ports.resources import ResourceMissing


class EventStoreLimitExceeded(PersistenceError):
    """A save DynamoDB cannot write atomically (too many events, or an event too large)."""


class TableMissing(PersistenceError, ResourceMissing):
    """The configured table does not exist (and `CREATE_TABLE` is off)."""


class MalformedStoredEvent(PersistenceError):
    """A stored item lacks an attribute, or holds one of the wrong type."""


class EventStoreThrottled(OperationalError):
    """DynamoDB kept throttling a request after botocore's retries with backoff."""


THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
