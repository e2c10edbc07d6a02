"""What must hold once the system is quiet, whatever crashed, repeated or raced before.

`check_invariants(catalog, artifacts)` reads every job, export and OCR job the catalog
knows and returns the violations of:

- `one-export`: a succeeded job not tagged to skip its export has exactly one succeeded
  export;
- `settled`: no job, export or OCR job is left unfinished, unless it is resumable (an
  `interrupted` job: `train --resume` continues it); a failed export or OCR job is
  finished (an operator may retry it);
- `published-whole`: a succeeded export's bundle holds exactly the files its outcome lists,
  each of the listed size (no file missing, partial, or left over from an attempt); a
  completed OCR job's result files exist and are whole JSON;
- `unique-metrics`: a job's evaluations have no (epoch, step) twice.

`receipts simulate --faults` and `bench/chaos.py` run it after their faults.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from receipts.application.ports.artifact_store import ArtifactNotFound, ArtifactStore
from receipts.application.ports.read_model import ExportRecord, JobSummary, OCRRecord
from receipts.application.training.job_views import JobCatalog
from receipts.domain.export_job import ENDED as EXPORT_ENDED
from receipts.domain.export_job import ExportStatus
from receipts.domain.job import JOB_STATUS, SKIP_EXPORT_TAG, TRUTHY, JobStatus
from receipts.domain.job_metric import Evaluation
from receipts.domain.ocr_job import ENDED as OCR_ENDED
from receipts.domain.ocr_job import OCRStatus

RESUMABLE = frozenset({JobStatus.INTERRUPTED})


class Invariant(StrEnum):
    ONE_EXPORT = "one-export"
    SETTLED = "settled"
    PUBLISHED_WHOLE = "published-whole"
    UNIQUE_METRICS = "unique-metrics"


@dataclass(frozen=True)
class Violation:
    invariant: Invariant
    subject: str
    """What breaks it: `job <id>`, `export <id>`, `OCR job <id>`."""
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.subject}: {self.detail}"


def check_invariants(catalog: JobCatalog, artifacts: ArtifactStore) -> list[Violation]:
    """Every violation, in the catalog's order (jobs, then OCR jobs)."""
    catalog.catch_up()
    read_model = catalog.read_model
    violations: list[Violation] = []
    for job in read_model.all():
        exports = read_model.exports_of(job.job_id)
        violations += _job_violations(job, exports, read_model.metrics(job.job_id))
        for export in exports:
            violations += _export_violations(catalog, export, artifacts)
    for status in OCRStatus:
        for ocr_job in read_model.ocr_jobs_by_status(status):
            violations += _ocr_violations(ocr_job, artifacts)
    return violations


def _job_violations(
    job: JobSummary, exports: list[ExportRecord], metrics: list[Evaluation]
) -> list[Violation]:
    subject = f"job {job.job_id}"
    found = []
    if job.status not in JOB_STATUS.terminal | RESUMABLE:
        found.append(Violation(Invariant.SETTLED, subject, f"left {job.status.value}"))
    skips = job.tags.get(SKIP_EXPORT_TAG, "").strip().lower() in TRUTHY
    succeeded = sum(e.status is ExportStatus.SUCCEEDED for e in exports)
    if job.status is JobStatus.SUCCEEDED and not skips and succeeded != 1:
        statuses = ", ".join(e.status.value for e in exports) or "none"
        found.append(
            Violation(Invariant.ONE_EXPORT, subject, f"{succeeded} succeeded exports ({statuses})")
        )
    steps = Counter((m.epoch, m.global_step) for m in metrics)
    for (epoch, step), times in sorted(steps.items()):
        if times > 1:
            found.append(
                Violation(
                    Invariant.UNIQUE_METRICS, subject, f"epoch {epoch} step {step} {times} times"
                )
            )
    return found


def _export_violations(
    catalog: JobCatalog, export: ExportRecord, artifacts: ArtifactStore
) -> list[Violation]:
    subject = f"export {export.export_id}"
    if export.status not in EXPORT_ENDED:
        return [Violation(Invariant.SETTLED, subject, f"left {export.status.value}")]
    if export.status is not ExportStatus.SUCCEEDED or catalog.exports is None:
        return []
    outcome = catalog.exports.get_export(export.export_id).outcome
    if outcome is None:
        return [Violation(Invariant.PUBLISHED_WHOLE, subject, "succeeded without an outcome")]
    problems = bundle_problems(artifacts, outcome.bundle_uri, outcome.file_sizes)
    return [Violation(Invariant.PUBLISHED_WHOLE, subject, problem) for problem in problems]


def bundle_problems(artifacts: ArtifactStore, bundle_uri: str, sizes: dict[str, int]) -> list[str]:
    """How the files under `bundle_uri` differ from `sizes` (relative name → bytes)."""
    prefix = bundle_uri if bundle_uri.endswith("/") else bundle_uri + "/"
    stored = {uri.removeprefix(prefix): uri for uri in artifacts.list(prefix)}
    problems = [f"{name} missing" for name in sorted(sizes.keys() - stored.keys())]
    problems += [f"{name} not in the bundle" for name in sorted(stored.keys() - sizes.keys())]
    for name in sorted(sizes.keys() & stored.keys()):
        try:
            size = len(artifacts.get_bytes(stored[name]))
        except ArtifactNotFound:
            problems.append(f"{name} missing")
            continue
        if size != sizes[name]:
            problems.append(f"{name} has {size} bytes, not {sizes[name]}")
    return problems


def _ocr_violations(ocr_job: OCRRecord, artifacts: ArtifactStore) -> list[Violation]:
    subject = f"OCR job {ocr_job.ocr_job_id}"
    if ocr_job.status not in OCR_ENDED:
        return [Violation(Invariant.SETTLED, subject, f"left {ocr_job.status.value}")]
    if ocr_job.status is not OCRStatus.COMPLETED:
        return []
    found = []
    for role, uri in sorted(ocr_job.result_uris.items()):
        try:
            json.loads(artifacts.get_bytes(uri))
        except ArtifactNotFound:
            found.append(
                Violation(Invariant.PUBLISHED_WHOLE, subject, f"{role} result {uri} missing")
            )
        except ValueError:
            found.append(
                Violation(Invariant.PUBLISHED_WHOLE, subject, f"{role} result {uri} partial")
            )
    return found
