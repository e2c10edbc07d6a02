"""The read models in the seeds' single-table layout, kept current by the JobCatalog projection.

| item | PK | SK |
|---|---|---|
| job | `JOB#<job id>` | `JOB` |
| metric | `JOB#<job id>` | `METRIC#<timestamp>#<version>` |
| log entry | `JOB#<job id>` | `LOG#<timestamp>#<version>` |
| export job | `EXPORT#<export id>` | `EXPORT` |
| OCR job | `OCR#<ocr job id>` | `OCR` |
| projection position | `PROJECTION#<application>` | `POSITION` |

| item | GSI1PK | GSI1SK | GSI2PK | GSI2SK |
|---|---|---|---|---|
| job | `STATUS#<status>` | `<updated_at>#<job id>` | `JOB_NAME#<name>` | `JOB` |
| export | `EXPORT_STATUS#<status>` | `<created_at>#<id>` | `JOB#<job id>` | `EXPORT#<created_at>` |
| OCR job | `OCR_STATUS#<status>` | `<created_at>#<id>` | | |

Timestamps are ISO 8601 UTC with `+00:00` and six fractional digits (string order is time
order); `<version>` is the event's aggregate version (8 digits), which keeps two entries with
one timestamp apart; `EXPORT#<created_at>` ends with `#<export id>`. Every item has `TYPE`
and readable attributes (status, name, f1, message, ...) beside `data`, the record as JSON,
which is what queries read back.

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
from receipts.adapters.dynamodb.read_model_table import Table, create_table, sortable
from receipts.application.export_views import ExportRecord
from receipts.application.ocr_views import OCRRecord
from receipts.application.ports.read_model import (
    JobSummary,
    LogRecord,
    MetricRecord,
    ReadModelChanges,
)
from receipts.domain.aggregate import iso
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
        create_table(self.table.db, self.table.name)

    # -- the projection's side -----------------------------------------------------------

    def position(self, stream: str) -> int:
        item = self.table.get(f"PROJECTION#{stream}", "POSITION")
        return int(item["position"]["N"]) if item else 0

    def apply(self, changes: ReadModelChanges, stream: str, position: int) -> None:
        records = [_job_item(s) for s in changes.jobs.values()]
        records += [_export_item(e) for e in changes.exports.values()]
        records += [_ocr_item(o) for o in changes.ocr_jobs.values()]
        for item in records:
            self.table.put(item, **_moves_forward(int(item["position"]["N"])))
        appended = [_metric_item(m) for m in changes.metrics]
        appended += [_log_item(entry) for entry in changes.logs]
        self.table.write_batch(appended)
        # written last: after a crash in between, the batch is replayed (and changes nothing)
        self.table.put(
            {
                "PK": _s(f"PROJECTION#{stream}"),
                "SK": _s("POSITION"),
                "TYPE": _s("PROJECTION"),
                "position": _n(position),
            },
            **_moves_forward(position),
        )

    # -- jobs ----------------------------------------------------------------------------

    def get(self, job_id: UUID) -> JobSummary | None:
        item = self.table.get(f"JOB#{job_id}", "JOB")
        return _record(JobSummary, item) if item else None

    def by_name(self, name: str) -> JobSummary | None:
        items = self._index("GSI2", f"JOB_NAME#{name}", limit=1)
        return _record(JobSummary, items[0]) if items else None

    def by_status(self, status: JobStatus) -> list[JobSummary]:
        jobs = [_record(JobSummary, item) for item in self._index("GSI1", f"STATUS#{status}")]
        return sorted(jobs, key=lambda s: (s.created_at, s.name))

    def latest_by_status(self, status: JobStatus) -> JobSummary | None:
        items = self._index("GSI1", f"STATUS#{status}", newest_first=True, limit=1)
        return _record(JobSummary, items[0]) if items else None

    def all(self) -> list[JobSummary]:
        jobs = [job for status in JobStatus for job in self.by_status(status)]
        return sorted(jobs, key=lambda s: (s.created_at, s.name))

    def metrics(self, job_id: UUID) -> list[Evaluation]:
        return [r.evaluation for r in self._series(MetricRecord, job_id, "METRIC#")]

    def logs(self, job_id: UUID) -> list[LogEntry]:
        return [r.entry for r in self._series(LogRecord, job_id, "LOG#")]

    # -- exports and OCR jobs ------------------------------------------------------------

    def export(self, export_id: UUID) -> ExportRecord | None:
        item = self.table.get(f"EXPORT#{export_id}", "EXPORT")
        return _record(ExportRecord, item) if item else None

    def exports_of(self, job_id: UUID) -> list[ExportRecord]:
        items = self._index("GSI2", f"JOB#{job_id}", sk_prefix="EXPORT#")
        return [_record(ExportRecord, item) for item in items]

    def ocr_job(self, ocr_job_id: UUID) -> OCRRecord | None:
        item = self.table.get(f"OCR#{ocr_job_id}", "OCR")
        return _record(OCRRecord, item) if item else None

    def ocr_jobs_by_status(self, status: OCRStatus) -> list[OCRRecord]:
        return [_record(OCRRecord, i) for i in self._index("GSI1", f"OCR_STATUS#{status}")]

    # -- queries -------------------------------------------------------------------------

    def _series(self, kind: type[R], job_id: UUID, prefix: str) -> list[R]:
        items = self.table.query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": _s(f"JOB#{job_id}"), ":prefix": _s(prefix)},
        )
        return [_record(kind, item) for item in items]

    def _index(
        self,
        index: str,
        key: str,
        *,
        sk_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        condition = f"{index}PK = :key"
        values = {":key": _s(key)}
        if sk_prefix is not None:
            condition += f" AND begins_with({index}SK, :prefix)"
            values[":prefix"] = _s(sk_prefix)
        return list(
            self.table.query(
                IndexName=index,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ScanIndexForward=not newest_first,
                limit=limit,
            )
        )


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value)}


def _moves_forward(position: int) -> dict[str, Any]:
    return {
        "ConditionExpression": "attribute_not_exists(PK) OR #position < :position",
        "ExpressionAttributeNames": {"#position": "position"},
        "ExpressionAttributeValues": {":position": _n(position)},
    }


def _record(kind: type[R], item: dict[str, Any]) -> R:
    return kind.model_validate_json(item["data"]["S"])


def _job_item(summary: JobSummary) -> dict[str, Any]:
    item = {
        "PK": _s(f"JOB#{summary.job_id}"),
        "SK": _s("JOB"),
        "GSI1PK": _s(f"STATUS#{summary.status}"),
        "GSI1SK": _s(f"{sortable(summary.updated_at)}#{summary.job_id}"),
        "GSI2PK": _s(f"JOB_NAME#{summary.name}"),
        "GSI2SK": _s("JOB"),
        "TYPE": _s("JOB"),
        "job_id": _s(str(summary.job_id)),
        "name": _s(summary.name),
        "status": _s(summary.status),
        "created_at": _s(iso(summary.created_at)),
        "updated_at": _s(iso(summary.updated_at)),
        "position": _n(summary.position),
        "data": _s(summary.model_dump_json()),
    }
    if summary.best_f1 is not None:
        item["best_f1"] = _n(summary.best_f1)
    return item


def _metric_item(metric: MetricRecord) -> dict[str, Any]:
    evaluation = metric.evaluation
    return {
        "PK": _s(f"JOB#{metric.job_id}"),
        "SK": _s(f"METRIC#{sortable(evaluation.timestamp)}#{metric.sequence:08d}"),
        "TYPE": _s("METRIC"),
        "job_id": _s(str(metric.job_id)),
        "epoch": _n(evaluation.epoch),
        "global_step": _n(evaluation.global_step),
        "f1": _n(evaluation.f1),
        "precision": _n(evaluation.precision),
        "recall": _n(evaluation.recall),
        "timestamp": _s(iso(evaluation.timestamp)),
        "data": _s(metric.model_dump_json()),
    }


def _log_item(log: LogRecord) -> dict[str, Any]:
    entry = log.entry
    return {
        "PK": _s(f"JOB#{log.job_id}"),
        "SK": _s(f"LOG#{sortable(entry.timestamp)}#{log.sequence:08d}"),
        "TYPE": _s("LOG"),
        "job_id": _s(str(log.job_id)),
        "kind": _s(entry.kind),
        "level": _s(entry.level),
        "message": _s(entry.message[:MESSAGE_CHARS]),
        "timestamp": _s(iso(entry.timestamp)),
        "data": _s(log.model_dump_json()),
    }


def _export_item(export: ExportRecord) -> dict[str, Any]:
    created = f"{sortable(export.created_at)}#{export.export_id}"
    item = {
        "PK": _s(f"EXPORT#{export.export_id}"),
        "SK": _s("EXPORT"),
        "GSI1PK": _s(f"EXPORT_STATUS#{export.status}"),
        "GSI1SK": _s(created),
        "TYPE": _s("EXPORT"),
        "export_id": _s(str(export.export_id)),
        "status": _s(export.status),
        "quantization": _s(export.quantization),
        "updated_at": _s(iso(export.updated_at)),
        "position": _n(export.position),
        "data": _s(export.model_dump_json()),
    }
    if export.source_job_id is not None:
        item["GSI2PK"] = _s(f"JOB#{export.source_job_id}")
        item["GSI2SK"] = _s(f"EXPORT#{created}")
    return item


def _ocr_item(ocr: OCRRecord) -> dict[str, Any]:
    return {
        "PK": _s(f"OCR#{ocr.ocr_job_id}"),
        "SK": _s("OCR"),
        "GSI1PK": _s(f"OCR_STATUS#{ocr.status}"),
        "GSI1SK": _s(f"{sortable(ocr.created_at)}#{ocr.ocr_job_id}"),
        "TYPE": _s("OCR"),
        "ocr_job_id": _s(str(ocr.ocr_job_id)),
        "status": _s(ocr.status),
        "image_uri": _s(ocr.image_uri),
        "updated_at": _s(iso(ocr.updated_at)),
        "position": _n(ocr.position),
        "data": _s(ocr.model_dump_json()),
    }
