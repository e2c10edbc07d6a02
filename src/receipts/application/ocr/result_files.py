"""Where an OCR job's results go: staged under each attempt, published at the seeds' paths.

An attempt writes its files under `<prefix>ocr_results/<job>/attempt-<n>/` (the OCR
result, the labels document and the word-label record) before it tries to complete the
job; the completed job points at the winning attempt's files, and only then are they
copied to the seeds' paths, `<prefix>ocr_results/<job>.json` and
`<prefix>receipts/<job>/labels.json`. A losing attempt removes only its own directory.
"""

from __future__ import annotations

from uuid import UUID

from receipts.domain.artifacts import ArtifactURI

PUBLISHED = ("ocr", "labels")
"""The roles published at the seeds' paths (and named in the job's `result_uris`)."""
STAGED = (*PUBLISHED, "record")


def staged_files(prefix: str, job_id: UUID, attempt: int) -> dict[str, str]:
    """Role → URI of one attempt's files."""
    directory = ArtifactURI.parse(prefix).join("ocr_results", str(job_id), f"attempt-{attempt}")
    return {role: str(directory.join(f"{role}.json")) for role in STAGED}


def published_files(prefix: str, job_id: UUID) -> dict[str, str]:
    """Role → URI at the seeds' paths."""
    root = ArtifactURI.parse(prefix)
    return {
        "ocr": str(root.join("ocr_results", f"{job_id}.json")),
        "labels": str(root.join("receipts", str(job_id), "labels.json")),
    }


def result_uris(staged: dict[str, str]) -> dict[str, str]:
    """What a completed job records of its attempt's files."""
    return {role: staged[role] for role in PUBLISHED}
