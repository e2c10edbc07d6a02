"""The OCRJob's status machine."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from receipts.domain.errors import IllegalTransition, StaleAttempt
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


# -- attempts: every interleaving of starts, completions and failures by attempts ----------

Step = tuple[str, int]
ACTIONS = ["start", "complete", "fail", "fail-any", "retry"]
steps = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(1, 4)), max_size=12)


@given(steps)
def test_only_the_current_attempt_of_a_processing_job_finishes_it(plan: list[Step]) -> None:
    job = OCRJob(request=REQUEST)
    status, current, completions = P.PENDING, 0, 0
    for action, attempt in plan:
        version = job.version
        allowed = {
            "start": status in (P.PENDING, P.PROCESSING),
            "complete": status is P.PROCESSING and attempt == current,
            "fail": status is P.PROCESSING and attempt == current,
            "fail-any": status in (P.PENDING, P.PROCESSING),
            "retry": status is P.FAILED,
        }[action]
        try:
            if action == "start":
                assert job.start(f"worker-{attempt}") == current + 1
            elif action == "complete":
                job.complete(OUTCOME, attempt)
            elif action == "fail":
                job.fail("bad image", attempt)
            elif action == "fail-any":
                job.fail("dead-lettered")
            else:
                job.retry("operator")
        except (StaleAttempt, IllegalTransition) as refused:
            assert not allowed, f"{action} by attempt {attempt} refused: {refused}"
            stale = action in ("complete", "fail") and (
                attempt != current or status is not P.PROCESSING
            )
            assert isinstance(refused, StaleAttempt) == stale
            assert job.version == version and job.status is status  # nothing recorded
            continue
        assert allowed, f"{action} by attempt {attempt} was accepted in {status}"
        assert job.version == version + 1
        if action == "start":
            status, current = P.PROCESSING, current + 1
        elif action == "complete":
            status, completions = P.COMPLETED, completions + 1
        elif action in ("fail", "fail-any"):
            status = P.FAILED
        else:
            status = P.PENDING
        assert (job.status, job.attempts) == (status, current)
    assert completions <= 1
    events = job.collect_events()
    started = [e.attempt for e in events if isinstance(e, OCRJob.ProcessingStarted)]
    assert started == list(range(1, current + 1))  # attempt numbers are never reused
    assert all(
        e.attempt in (None, started[-1] if started else None)
        for e in events
        if isinstance(e, OCRJob.Completed)
    )
