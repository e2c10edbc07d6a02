"""Where each item lives: the keys of every item kind, in the one place that builds them.

The event store's table (PK string, SK number; `event_store`) keeps every application's
items under the application's name:

| item | PK | SK | attributes |
|---|---|---|---|
| event | `<app>#E#<originator id>` (snapshot: `<app>#snapshots#…`) | version | topic, state, nid |
| notification | `<app>#N#<nid // 10000>` | nid | oid, ver, topic, state |
| counter | `<app>#N#HEAD` | 0 | last |
| tracking | `<app>#T#<upstream app>` | 0 | nid |

The seeds' single table (PK, SK strings; GSI1 and GSI2 project every attribute) keeps the
job read model (`job_read_model`) and the labelled receipts (`label_store`):

| item | PK | SK |
|---|---|---|
| job | `JOB#<id>` | `JOB` |
| metric | `JOB#<id>` | `METRIC#<timestamp>#<version>` |
| log entry | `JOB#<id>` | `LOG#<timestamp>#<version>` |
| export job | `EXPORT#<id>` | `EXPORT` |
| OCR job | `OCR#<id>` | `OCR` |
| projection position | `PROJECTION#<application>` | `POSITION` |
| receipt | `RECEIPT#<receipt>` | `RECEIPT` |
| word + label | `RECEIPT#<receipt>` | `WORD#<word>` |
| receipt sequence | `RECEIPTS` | `SEQUENCE` |

| index | item | partition key | sort key |
|---|---|---|---|
| GSI1 | job | `STATUS#<status>` | `<updated_at>#<id>` |
| GSI1 | export job | `EXPORT_STATUS#<status>` | `<created_at>#<id>` |
| GSI1 | OCR job | `OCR_STATUS#<status>` | `<created_at>#<id>` |
| GSI2 | job | `JOB_NAME#<name>` | `JOB` |
| GSI2 | export job | `JOB#<source job>` | `EXPORT#<created_at>#<id>` |
| GSI2 | word (not O) | `LABEL#<label>` | `STATUS#<status>#RECEIPT#<receipt>#WORD#<word>` |

Timestamps in keys are UTC ISO 8601 with `+00:00` and six fractional digits, so string
order is time order; `<version>` is the event's aggregate version in 8 digits (two entries
with one timestamp stay apart); word ids are 6 digits. Only labelled words (not O) have
GSI2 keys, so GSI2 holds one entry per word label. An export job made by hand (no source
job) has no GSI2 keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from receipts.application.ports.read_model import (
    ExportRecord,
    JobSummary,
    LogRecord,
    MetricRecord,
    OCRRecord,
)
from receipts.domain.labels import OUTSIDE
from receipts.domain.receipt import Word

Key = dict[str, Any]
"""Key attributes as Python values (`table.to_item` makes attribute values of them)."""

INDEXES = ("GSI1", "GSI2")
NOTIFICATION_BUCKET = 10_000
"""Notifications per partition of the event store's table."""


def sortable(moment: datetime) -> str:
    """ISO 8601 in UTC with `+00:00` and always six fractional digits, so that string order is
    time order (`isoformat` drops a zero fraction, which sorts wrongly within one second)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# -- the event store's table -----------------------------------------------------------------


def event_partition(app: str, purpose: str, originator_id: UUID | str) -> str:
    return f"{app}#{'E' if purpose == 'events' else purpose}#{originator_id}"


def event_key(app: str, purpose: str, originator_id: UUID | str, version: int) -> Key:
    return {"PK": event_partition(app, purpose, originator_id), "SK": version}


def notification_partition(app: str, nid: int) -> str:
    return f"{app}#N#{nid // NOTIFICATION_BUCKET}"


def notification_key(app: str, nid: int) -> Key:
    return {"PK": notification_partition(app, nid), "SK": nid}


def counter_key(app: str) -> Key:
    return {"PK": f"{app}#N#HEAD", "SK": 0}


def tracking_key(app: str, upstream: str) -> Key:
    return {"PK": f"{app}#T#{upstream}", "SK": 0}


# -- the seeds' single table: the job read model ---------------------------------------------

METRIC = "METRIC#"
LOG = "LOG#"
EXPORT = "EXPORT#"


def job_partition(job_id: UUID) -> str:
    return f"JOB#{job_id}"


def jobs_with_status(status: str) -> str:
    return f"STATUS#{status}"


def job_named(name: str) -> str:
    return f"JOB_NAME#{name}"


def ocr_jobs_with_status(status: str) -> str:
    return f"OCR_STATUS#{status}"


def job_key(job_id: UUID) -> Key:
    return {"PK": job_partition(job_id), "SK": "JOB"}


def job_keys(job: JobSummary) -> Key:
    return {
        **job_key(job.job_id),
        "GSI1PK": jobs_with_status(job.status),
        "GSI1SK": f"{sortable(job.updated_at)}#{job.job_id}",
        "GSI2PK": job_named(job.name),
        "GSI2SK": "JOB",
    }


def metric_key(metric: MetricRecord) -> Key:
    moment = sortable(metric.evaluation.timestamp)
    return {"PK": job_partition(metric.job_id), "SK": f"{METRIC}{moment}#{metric.sequence:08d}"}


def log_key(log: LogRecord) -> Key:
    moment = sortable(log.entry.timestamp)
    return {"PK": job_partition(log.job_id), "SK": f"{LOG}{moment}#{log.sequence:08d}"}


def export_key(export_id: UUID) -> Key:
    return {"PK": f"EXPORT#{export_id}", "SK": "EXPORT"}


def export_keys(export: ExportRecord) -> Key:
    created = f"{sortable(export.created_at)}#{export.export_id}"
    keys = {
        **export_key(export.export_id),
        "GSI1PK": f"EXPORT_STATUS#{export.status}",
        "GSI1SK": created,
    }
    if export.source_job_id is not None:
        keys |= {"GSI2PK": job_partition(export.source_job_id), "GSI2SK": f"{EXPORT}{created}"}
    return keys


def ocr_key(ocr_job_id: UUID) -> Key:
    return {"PK": f"OCR#{ocr_job_id}", "SK": "OCR"}


def ocr_keys(ocr: OCRRecord) -> Key:
    return {
        **ocr_key(ocr.ocr_job_id),
        "GSI1PK": ocr_jobs_with_status(ocr.status),
        "GSI1SK": f"{sortable(ocr.created_at)}#{ocr.ocr_job_id}",
    }


def position_key(stream: str) -> Key:
    return {"PK": f"PROJECTION#{stream}", "SK": "POSITION"}


# -- the seeds' single table: labelled receipts ----------------------------------------------

RECEIPT = "RECEIPT#"
WORD = "WORD#"
SEQUENCE_KEY: Key = {"PK": "RECEIPTS", "SK": "SEQUENCE"}


def receipt_partition(receipt_id: str) -> str:
    return f"{RECEIPT}{receipt_id}"


def receipt_id_of(partition: str) -> str:
    return partition.removeprefix(RECEIPT)


def receipt_key(receipt_id: str) -> Key:
    return {"PK": receipt_partition(receipt_id), "SK": "RECEIPT"}


def word_key(receipt_id: str, word_id: int) -> Key:
    return {"PK": receipt_partition(receipt_id), "SK": f"{WORD}{word_id:06d}"}


def word_keys(receipt_id: str, word: Word) -> Key:
    """A word's keys; only a labelled word (not O) has a GSI2 partition."""
    return {
        **word_key(receipt_id, word.word_id),
        "GSI2PK": labelled(word.label) if word.label != OUTSIDE else None,
        "GSI2SK": label_sort_key(receipt_id, word.word_id, word.validation_status),
    }


def labelled(label: str) -> str:
    return f"LABEL#{label}"


def label_sort_key(receipt_id: str, word_id: int, status: str) -> str:
    return f"STATUS#{status}#RECEIPT#{receipt_id}#WORD#{word_id:06d}"


def status_of(label_sort_key: str) -> str:
    """The validation status in a word's GSI2SK."""
    return label_sort_key.split("#", 2)[1]
