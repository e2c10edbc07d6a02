"""The shape of an SQS-triggered Lambda that reports partial batch failures.

Lambda deletes a batch's messages when the handler returns; with `ReportBatchItemFailures`
on the event source mapping it keeps (and redelivers) only the ones the handler lists in
`batchItemFailures`. So one bad record never fails the whole batch: each record is
processed on its own, and a record that raises (not JSON, not valid, a transient error)
is listed, to come back after its visibility timeout and reach the DLQ after
maxReceiveCount receives. On a FIFO queue the records after a failed one of the same
message group are listed too (unprocessed), so that group keeps its order.

The results-queue Lambdas (`export_results`, `ocr_results`) also share how a worker's
result is checked and how a late one that contradicts the recorded outcome is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from enum import Enum
from typing import Any, TypedDict, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from receipts.domain.config import validation_problems
from receipts.domain.errors import InvalidInput

log = logging.getLogger("receipts.lambdas")


class SQSRecord(BaseModel):
    """The fields of an SQS event record that a handler uses."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    message_id: str = Field(alias="messageId", min_length=1)
    body: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    event_source_arn: str | None = Field(None, alias="eventSourceARN")

    @property
    def message_group_id(self) -> str | None:
        group = self.attributes.get("MessageGroupId")
        return str(group) if group is not None else None

    @property
    def receive_count(self) -> int:
        return int(self.attributes.get("ApproximateReceiveCount", 1))


class ItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


class Refused(TypedDict):
    """The answer to an event that is not an SQS batch (a direct invocation)."""

    statusCode: int
    error: str
    problems: list[str]


RecordHandler = Callable[[SQSRecord], object]
Handler = Callable[[Mapping[str, Any], Any], BatchResponse | Refused]
Service = TypeVar("Service")


def sqs_records(event: object) -> list[SQSRecord]:
    """The event's records; an event that is not an SQS batch is refused as a whole."""
    if not isinstance(event, Mapping) or not isinstance(event.get("Records"), list):
        raise InvalidInput("SQS event", ["Records: expected a list of SQS records"])
    records: list[SQSRecord] = []
    for index, raw in enumerate(event["Records"]):
        try:
            records.append(SQSRecord.model_validate(raw))
        except ValidationError as error:
            # without a messageId no single record can be reported: refuse the batch
            problems = [f"Records.{index}.{problem}" for problem in validation_problems(error)]
            raise InvalidInput("SQS event", problems) from None
    return records


def process_batch(event: object, handle: RecordHandler) -> BatchResponse:
    """Handles each record; lists the ones that raised (and, on FIFO, those after them)."""
    failures: list[ItemFailure] = []
    failed_groups: set[str] = set()
    for record in sqs_records(event):
        group = record.message_group_id
        if group is not None and group in failed_groups:
            failures.append({"itemIdentifier": record.message_id})
            continue
        try:
            handle(record)
        except Exception as error:
            log.warning(
                "SQS record %s failed (receive %d): %s: %s",
                record.message_id,
                record.receive_count,
                type(error).__name__,
                error,
            )
            failures.append({"itemIdentifier": record.message_id})
            if group is not None:
                failed_groups.add(group)
    return {"batchItemFailures": failures}


def results_handler(
    service: Callable[[], Service], record: Callable[[Service, str], str], what: str
) -> Handler:
    """A handler that records each message's body with the `service` of its invocation
    (obtained before the batch, so a missing resource fails the invocation naming it)."""

    def handle(event: Mapping[str, Any], context: Any) -> BatchResponse | Refused:
        try:
            sqs_records(event)
        except InvalidInput as error:
            log.warning("%s handler refused the event: %s", what, error)
            return {"statusCode": 400, "error": str(error), "problems": error.problems}
        current = service()

        def one(sqs_record: SQSRecord) -> str:
            recorded = record(current, sqs_record.body)
            log.info("%s %s: %s", what, sqs_record.message_id, recorded)
            return recorded

        return process_batch(event, one)

    return handle


def is_final(status: str, final: Collection[str], in_progress: Collection[str], what: str) -> bool:
    """Whether a worker's reported status ends its job (False: still in progress); any other
    status is refused."""
    if status in in_progress:
        return False
    if status not in final:
        expected = ", ".join([*final, *in_progress])
        raise InvalidInput(what, [f"status: expected one of {expected} (got {status!r})"])
    return True


def warn_if_contradicted(what: str, job_id: UUID, status: Enum, reported: Enum) -> None:
    """A result for a job that already ended otherwise is ignored, with a warning."""
    if status is not reported:
        log.warning(
            "%s %s is already %s; a result saying %s is ignored",
            what,
            job_id,
            status.value,
            reported.value,
        )
