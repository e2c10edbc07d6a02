"""Property: whatever the order of starts and ends by concurrent attempts, an ExportJob
records at most one end per run, only by its current attempt, and never ends twice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from receipts.domain.errors import DomainError, StaleAttempt
from receipts.domain.export_job import ExportJob, ExportOutcome, ExportRequest, ExportStatus

REQUEST = ExportRequest(checkpoint_uri="memory://b/runs/x/best/", output_prefix="memory://b/o/")
OUTCOME = ExportOutcome(bundle_uri="memory://b/o/float16/")

Step = tuple[str, int]
STEPS = st.lists(
    st.tuples(st.sampled_from(["start", "succeed", "fail", "dlq", "retry"]), st.integers(0, 4)),
    max_size=25,
)


def apply(export: ExportJob, step: Step, started: list[int]) -> None:
    command, pick = step
    attempt = started[pick % len(started)] if started else 1
    if command == "start":
        started.append(export.start("worker"))
    elif command == "succeed":
        export.succeed(OUTCOME, attempt)
    elif command == "fail":
        export.fail("boom", attempt)
    elif command == "dlq":
        export.fail("moved to the dead-letter queue after 5 deliveries")
    else:
        export.retry()


@given(STEPS)
def test_only_the_current_attempt_ends_an_export_and_at_most_once(steps: list[Step]) -> None:
    export = ExportJob(request=REQUEST)
    started: list[int] = []
    for step in steps:
        before = (export.status, export.attempts, export.version)
        current = export.attempts if export.status is ExportStatus.RUNNING else None
        try:
            apply(export, step, started)
        except StaleAttempt as refused:
            assert refused.attempt != current
            assert (export.status, export.attempts, export.version) == before
            continue
        except DomainError:
            assert (export.status, export.attempts, export.version) == before
            continue
        if step[0] in ("succeed", "fail"):
            assert before[0] is ExportStatus.RUNNING
    assert started == list(range(1, len(started) + 1))  # attempt numbers never repeat
    events = export.collect_events()
    ends = [e for e in events if isinstance(e, ExportJob.Succeeded | ExportJob.Failed)]
    retries = [e for e in events if isinstance(e, ExportJob.Retried)]
    assert len(ends) <= len(retries) + 1
    assert sum(isinstance(e, ExportJob.Succeeded) for e in events) <= 1
    for end in ends:
        if end.attempt is not None:  # a worker's end names the attempt running at the time
            before = events[: events.index(end)]
            assert end.attempt == sum(isinstance(e, ExportJob.Started) for e in before)
