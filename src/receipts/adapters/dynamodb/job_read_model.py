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
from receipts.domain.artifacts import ArtifactURI
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
        return self._get(JobSummary, keys.job_key(job_id))

    def by_name(self, name: str) -> JobSummary | None:
        found = self._query(JobSummary, keys.job_named(name), index="GSI2", limit=1)
        return found[0] if found else None

    def by_status(self, status: JobStatus) -> list[JobSummary]:
        jobs = self._query(JobSummary, keys.jobs_with_status(status), index="GSI1")
        return sorted(jobs, key=lambda s: (s.created_at, s.name))

    def latest_by_status(self, status: JobStatus) -> JobSummary | None:
        key = keys.jobs_with_status(status)
        found = self._query(JobSummary, key, index="GSI1", newest_first=True, limit=1)
        return found[0] if found else None

    def all(self) -> list[JobSummary]:
        jobs = [job for status in JobStatus for job in self.by_status(status)]
        return sorted(jobs, key=lambda s: (s.created_at, s.name))

    def metrics(self, job_id: UUID) -> list[Evaluation]:
        records = self._query(MetricRecord, keys.job_partition(job_id), sk_prefix=keys.METRIC)
        return [record.evaluation for record in records]

    def logs(self, job_id: UUID) -> list[LogEntry]:
        records = self._query(LogRecord, keys.job_partition(job_id), sk_prefix=keys.LOG)
        return [record.entry for record in records]

    # -- exports and OCR jobs ------------------------------------------------------------

    def export(self, export_id: UUID) -> ExportRecord | None:
        return self._get(ExportRecord, keys.export_key(export_id))

    def exports_of(self, job_id: UUID) -> list[ExportRecord]:
        key = keys.job_partition(job_id)
        return self._query(ExportRecord, key, index="GSI2", sk_prefix=keys.EXPORT)

    def ocr_job(self, ocr_job_id: UUID) -> OCRRecord | None:
        return self._get(OCRRecord, keys.ocr_key(ocr_job_id))

    def ocr_jobs_by_status(self, status: OCRStatus) -> list[OCRRecord]:
        return self._query(OCRRecord, keys.ocr_jobs_with_status(status), index="GSI1")

    # -- reads ---------------------------------------------------------------------------

    def _get(self, kind: type[R], key: keys.Key) -> R | None:
        item = self.table.get(key)
        return _record(kind, item) if item else None

    def _query(
        self,
        kind: type[R],
        partition: str,
        *,
        index: str = "",
        sk_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[R]:
        """The records in a partition of the table (or of `index`), optionally those whose
        sort key starts with `sk_prefix`."""
        condition = f"{index}PK = :pk"
        values = {":pk": partition}
        if sk_prefix is not None:
            condition += f" AND begins_with({index}SK, :prefix)"
            values[":prefix"] = sk_prefix
        items = self.table.query(condition, values, index=index, desc=newest_first, limit=limit)
        return [_record(kind, item) for item in items]


def _moves_forward(position: int) -> dict[str, Any]:
    return {
        "ConditionExpression": "attribute_not_exists(PK) OR #position < :position",
        "ExpressionAttributeNames": {"#position": "position"},
        "ExpressionAttributeValues": to_item({":position": position}),
    }


def _record(kind: type[R], item: Item) -> R:
    return kind.model_validate_json(DESERIALIZER.deserialize(item["data"]))


def _item(
    key: keys.Key,
    kind: str,
    record: BaseModel,
    readable: set[str],
    part: BaseModel | None = None,
    **extra: Any,
) -> Item:
    """A record's item: its keys, `TYPE`, the `readable` fields of the record (or of its
    `part`) as JSON values (timestamps ISO 8601 with `+00:00`), and `data`, the record as JSON."""
    fields = (part or record).model_dump(mode="json", include=readable)
    return to_item({**key, "TYPE": kind, **fields, **extra, "data": record.model_dump_json()})


def _job_item(job: JobSummary) -> Item:
    """The seeds' Job attributes (name, description, status, priority, created_at,
    created_by, job_config, tags, storage) beside this project's (job_id, updated_at,
    best_f1, ...)."""
    readable = {"job_id", "name", "description", "status", "priority", "created_by", "tags"}
    readable |= {"created_at", "updated_at", "position", "best_f1", "best_checkpoint_uri"}
    config = job.config.model_dump(mode="json") if job.config else None
    return _item(
        keys.job_keys(job), "JOB", job, readable, job_config=config, storage=_storage(job) or None
    )


def _storage(job: JobSummary) -> dict[str, str]:
    """The seeds' storage map of a job's S3 locations: `bucket` and the prefixes within it
    (`run_root_prefix`, `checkpoints_prefix`, `logs_prefix`, `best_prefix`)."""
    uris = {
        "run_root_prefix": job.storage.output_uri,
        "checkpoints_prefix": job.storage.checkpoint_uri,
        "logs_prefix": job.storage.log_uri,
        "best_prefix": job.best_checkpoint_uri,
    }
    storage: dict[str, str] = {}
    for name, text in uris.items():
        uri = ArtifactURI.parse(text) if text else None
        if uri is None or uri.scheme != "s3" or not uri.is_prefix:
            continue
        if storage.setdefault("bucket", uri.bucket) == uri.bucket:
            storage[name] = uri.key
    return storage


METRIC_NAME = "f1"
"""The seeds' JobMetric `metric_name` of an evaluation: its `metric_value` is the entity F1."""


def _metric_item(metric: MetricRecord) -> Item:
    """An evaluation: its typed attributes (f1, precision, ...) and the seeds' generic ones
    (`metric_name`, `metric_value` and `value`: the F1, which their queries maximise)."""
    readable = {"epoch", "global_step", "f1", "precision", "recall", "timestamp"}
    key = keys.metric_key(metric)
    f1 = metric.evaluation.f1
    return _item(
        key,
        "METRIC",
        metric,
        readable,
        metric.evaluation,
        job_id=str(metric.job_id),
        metric_name=METRIC_NAME,
        metric_value=f1,
        value=f1,
        step=metric.evaluation.global_step,
    )


def _log_item(log: LogRecord) -> Item:
    message = log.entry.message[:MESSAGE_CHARS]
    readable = {"kind", "level", "timestamp"}
    key = keys.log_key(log)
    return _item(key, "LOG", log, readable, log.entry, job_id=str(log.job_id), message=message)


def _export_item(export: ExportRecord) -> Item:
    readable = {"export_id", "status", "quantization", "updated_at", "position"}
    return _item(keys.export_keys(export), "EXPORT", export, readable)


def _ocr_item(ocr: OCRRecord) -> Item:
    readable = {"ocr_job_id", "status", "image_uri", "updated_at", "position"}
    return _item(keys.ocr_keys(ocr), "OCR", ocr, readable)
