"""The OCRJob's status machine."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import pytest
from pydantic import ValidationError

from receipts.domain.errors import IllegalTransition
from receipts.domain.ocr_job import (
    OCR_STATUS,
    OCRJob,
    OCROutcome,
    OCRRequest,
    OCRStatus,
    RoutingDecision,
)

P = OCRStatus
REQUEST = OCRRequest(image_uri="s3://receipts-images/2026/receipt-1.png")
OUTCOME = OCROutcome(word_count=42, routing=RoutingDecision.AUTO_ACCEPT)

COMMANDS: dict[OCRStatus, tuple[str, Callable[[OCRJob], None], type[OCRJob.Event]]] = {
    P.PROCESSING: ("start processing", lambda job: job.start("mac-1"), OCRJob.ProcessingStarted),
    P.COMPLETED: ("complete", lambda job: job.complete(OUTCOME), OCRJob.Completed),
    P.FAILED: ("fail", lambda job: job.fail("image unreadable"), OCRJob.Failed),
    P.PENDING: ("retry", lambda job: job.retry("operator"), OCRJob.Resubmitted),
}
PATHS = {
    P.PENDING: [],
    P.PROCESSING: [P.PROCESSING],
    P.COMPLETED: [P.PROCESSING, P.COMPLETED],
    P.FAILED: [P.FAILED],
}
LEGAL = [(a, b) for a, nexts in OCR_STATUS.allowed.items() for b in sorted(nexts)]
ILLEGAL = [(a, b) for a, b in product(P, COMMANDS) if not OCR_STATUS.can(a, b)]


def ocr_job_in(status: OCRStatus) -> OCRJob:
    job = OCRJob(request=REQUEST)
    for step in PATHS[status]:
        COMMANDS[step][1](job)
    job.collect_events()
    assert job.status is status
    return job


def test_the_helpers_cover_the_whole_table() -> None:
    assert set(PATHS) == set(OCR_STATUS.allowed) == set(P)
    assert {b for nexts in OCR_STATUS.allowed.values() for b in nexts} <= set(COMMANDS)


@pytest.mark.parametrize(("before", "after"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition_records_exactly_one_event(
    before: OCRStatus, after: OCRStatus
) -> None:
    job = ocr_job_in(before)
    version = job.version
    _, command, event_class = COMMANDS[after]

    command(job)

    assert [type(e) for e in job.collect_events()] == [event_class]
    assert job.status is after
    assert job.version == version + 1


@pytest.mark.parametrize(("before", "after"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_refused_and_records_nothing(
    before: OCRStatus, after: OCRStatus
) -> None:
    job = ocr_job_in(before)
    version = job.version
    action, command, _ = COMMANDS[after]

    with pytest.raises(IllegalTransition) as refused:
        command(job)

    error = refused.value
    assert (error.entity, error.entity_id, error.action, error.status) == (
        "OCR job",
        job.id,
        action,
        before.value,
    )
    assert job.collect_events() == []
    assert job.version == version
    assert job.status is before


def test_a_failed_job_can_be_retried_and_only_a_completed_one_is_final() -> None:
    assert OCR_STATUS.terminal == {P.COMPLETED}
    assert {p for p in P if ocr_job_in(p).is_terminal} == {P.COMPLETED, P.FAILED}


def test_a_new_ocr_job_is_pending_and_counts_its_attempts() -> None:
    job = OCRJob(request=REQUEST)
    assert [type(e) for e in job.collect_events()] == [OCRJob.Submitted]
    assert job.status is P.PENDING

    job.start("mac-1")
    job.start("mac-2")

    assert (job.attempts, job.worker) == (2, "mac-2")


def test_an_ocr_request_needs_a_valid_image_uri() -> None:
    with pytest.raises(ValidationError, match="image_uri"):
        OCRRequest(image_uri="receipt-1.png")
