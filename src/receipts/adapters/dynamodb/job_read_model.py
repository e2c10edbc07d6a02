"""The read models in the seeds' single table (item keys: `keys`), kept current by the
JobCatalog projection.

Every item has `TYPE` and readable attributes (status, name, f1, message, ...) beside
`data`, the record as JSON, which is what queries read back.

Queries: jobs by status and latest job by status are Queries on GSI1 (`Limit=1`, newest
first, for the latest); job by name a Query on GSI2; metrics and logs of a job a Query on
the job's partition (`begins_with(SK, "METRIC#")`); exports of a job a Query on GSI2;
OCR jobs by status a Query on GSI1. Jobs, exports and OCR jobs are written with a
conditional put (`position` must grow), so a replayed or late notification never rewinds
them; metrics and logs are append-only, batch-written and idempotent by key.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from receipts.adapters.aws_clients import client
from receipts.adapters.dynamodb import keys
from receipts.adapters.dynamodb.table import DESERIALIZER, Item, Table, to_item
from receipts.application.ports.read_model import (
    ExportRecord,
    JobSummary,
    LogRecord,
    MetricRecord,
    OCRRecord,
    ReadModelChanges,
)
from receipts.domain.job import JobStatus
from receipts.domain.job_log import LogEntry
from receipts.domain.job_metric import Evaluation
from receipts.domain.ocr_job import OCRStatus

PURPOSE = "job read model"
R = TypeVar("R", bound=BaseModel)
MESSAGE_CHARS = 1000
"""A log item's readable `message` is cut here; `data` keeps it whole. The event store keeps
events under 350 KB, so the item stays under DynamoDB's 400 KB."""


class DynamoDBJobReadModel:
    def __init__(self, table: str, dynamodb: Any | None = None) -> None:
        self.table = Table(dynamodb or client("dynamodb"), table, PURPOSE)

    def create_table(self) -> None:
        self.table.create(indexes=keys.INDEXES)

    # -- the projection's side -----------------------------------------------------------

    def position(self, stream: str) -> int:
        item = self.table.get(keys.position_key(stream))
        return int(DESERIALIZER.deserialize(item["position"])) if item else 0

    def apply(self, changes: ReadModelChanges, stream: str, position: int) -> None:
        records = [(_job_item(s), s.position) for s in changes.jobs.values()]
        records += [(_export_item(e), e.position) for e in changes.exports.values()]
        records += [(_ocr_item(o), o.position) for o in changes.ocr_jobs.values()]
        for item, moved_to in records:
            self.table.put(item, **_moves_forward(moved_to))
        appended = [_metric_item(m) for m in changes.metrics]
        appended += [_log_item(entry) for entry in changes.logs]
        self.table.write_batch(appended)
        # written last: after a crash in between, the batch is replayed (and changes nothing)
        self.table.put(
            to_item({**keys.position_key(stream), "TYPE": "PROJECTION", "position": position}),
            **_moves_forward(position),
        )

    # -- jobs ----------------------------------------------------------------------------

    def get(self, job_id: UUID) -> JobSummary | None:
        item = self.table.get(keys.job_key(job_id))
        return _record(JobSummary, item) if item else None

    def by_name(self, name: str) -> JobSummary | None:
        items = self._index("GSI2", keys.job_named(name), limit=1)
        return _record(JobSummary, items[0]) if items else None

    def by_status(self, status: JobStatus) -> list[JobSummary]:
        items = self._index("GSI1", keys.jobs_with_status(status))
        return sorted((_record(JobSummary, i) for i in items), key=lambda s: (s.created_at, s.name))

    def latest_by_status(self, status: JobStatus) -> JobSummary | None:
        items = self._index("GSI1", keys.jobs_with_status(status), newest_first=True, limit=1)
        return _record(JobSummary, items[0]) if items else None

    def all(self) -> list[JobSummary]:
        jobs = [job for status in JobStatus for job in self.by_status(status)]
        return sorted(jobs, key=lambda s: (s.created_at, s.name))

    def metrics(self, job_id: UUID) -> list[Evaluation]:
        return [r.evaluation for r in self._series(MetricRecord, job_id, keys.METRIC)]

    def logs(self, job_id: UUID) -> list[LogEntry]:
        return [r.entry for r in self._series(LogRecord, job_id, keys.LOG)]

    # -- exports and OCR jobs ------------------------------------------------------------

    def export(self, export_id: UUID) -> ExportRecord | None:
        item = self.table.get(keys.export_key(export_id))
        return _record(ExportRecord, item) if item else None

    def exports_of(self, job_id: UUID) -> list[ExportRecord]:
        items = self._index("GSI2", keys.job_partition(job_id), sk_prefix=keys.EXPORT)
        return [_record(ExportRecord, item) for item in items]

    def ocr_job(self, ocr_job_id: UUID) -> OCRRecord | None:
        item = self.table.get(keys.ocr_key(ocr_job_id))
        return _record(OCRRecord, item) if item else None

    def ocr_jobs_by_status(self, status: OCRStatus) -> list[OCRRecord]:
        items = self._index("GSI1", keys.ocr_jobs_with_status(status))
        return [_record(OCRRecord, item) for item in items]

    # -- queries -------------------------------------------------------------------------

    def _series(self, kind: type[R], job_id: UUID, prefix: str) -> list[R]:
        values = {":pk": keys.job_partition(job_id), ":prefix": prefix}
        items = self.table.query("PK = :pk AND begins_with(SK, :prefix)", values)
        return [_record(kind, item) for item in items]

    def _index(
        self,
        index: str,
        key: str,
        *,
        sk_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[Item]:
        condition = f"{index}PK = :key"
        values = {":key": key}
        if sk_prefix is not None:
            condition += f" AND begins_with({index}SK, :prefix)"
            values[":prefix"] = sk_prefix
        return list(
            self.table.query(condition, values, index=index, desc=newest_first, limit=limit)
        )


def _moves_forward(position: int) -> dict[str, Any]:
    return {
        "ConditionExpression": "attribute_not_exists(PK) OR #position < :position",
        "ExpressionAttributeNames": {"#position": "position"},
        "ExpressionAttributeValues": to_item({":position": position}),
    }


def _record(kind: type[R], item: Item) -> R:
    return kind.model_validate_json(DESERIALIZER.deserialize(item["data"]))


def _item(key: keys.Key, kind: str, record: BaseModel, readable: dict[str, Any]) -> Item:
    """A record's item: its keys, `TYPE`, the readable attributes and `data`, the record as
    JSON (timestamps in readable attributes are ISO 8601 with `+00:00`, as in `data`)."""
    return to_item({**key, "TYPE": kind, **readable, "data": record.model_dump_json()})


def _job_item(job: JobSummary) -> Item:
    readable = {"job_id", "name", "status", "created_at", "updated_at", "position", "best_f1"}
    return _item(keys.job_keys(job), "JOB", job, job.model_dump(mode="json", include=readable))


def _metric_item(metric: MetricRecord) -> Item:
    readable = {"epoch", "global_step", "f1", "precision", "recall", "timestamp"}
    evaluation = metric.evaluation.model_dump(mode="json", include=readable)
    return _item(
        keys.metric_key(metric), "METRIC", metric, {"job_id": str(metric.job_id), **evaluation}
    )


def _log_item(log: LogRecord) -> Item:
    entry = log.entry.model_dump(mode="json", include={"kind", "level", "timestamp"})
    entry["message"] = log.entry.message[:MESSAGE_CHARS]
    return _item(keys.log_key(log), "LOG", log, {"job_id": str(log.job_id), **entry})


def _export_item(export: ExportRecord) -> Item:
    readable = {"export_id", "status", "quantization", "updated_at", "position"}
    return _item(
        keys.export_keys(export), "EXPORT", export, export.model_dump(mode="json", include=readable)
    )


def _ocr_item(ocr: OCRRecord) -> Item:
    readable = {"ocr_job_id", "status", "image_uri", "updated_at", "position"}
    return _item(keys.ocr_keys(ocr), "OCR", ocr, ocr.model_dump(mode="json", include=readable))
