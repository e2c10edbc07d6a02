"""What the DynamoDB event store raises beyond the library's IntegrityError (and `TableMissing`)."""

from __future__ import annotations

from eventsourcing.persistence import OperationalError, PersistenceError


class EventStoreLimitExceeded(PersistenceError):
    """A save DynamoDB cannot write atomically (too many events, or an event too large)."""


class MalformedStoredEvent(PersistenceError):
    """A stored item lacks an attribute, or holds one of the wrong type."""


class EventStoreThrottled(OperationalError):
    """DynamoDB kept throttling a request after botocore's retries with backoff."""


THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
