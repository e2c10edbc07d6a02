"""The ExportJob's status machine, its deterministic auto id and where bundles go."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from uuid import uuid4

import pytest

from receipts.domain.errors import IllegalTransition, StaleAttempt
from receipts.domain.export_job import (
    ENDED,
    EXPORT_STATUS,
    ExportJob,
    ExportOutcome,
    ExportRequest,
    ExportStatus,
    default_output_prefix,
)

E = ExportStatus
REQUEST = ExportRequest(
    checkpoint_uri="s3://receipts-models/runs/invoices/best/",
    output_prefix="s3://receipts-models/runs/invoices/coreml/",
)
OUTCOME = ExportOutcome(bundle_uri="s3://receipts-models/runs/invoices/coreml/float16/")

COMMANDS: dict[ExportStatus, tuple[str, Callable[[ExportJob], object], type[ExportJob.Event]]] = {
    E.QUEUED: ("be retried", lambda export: export.retry(), ExportJob.Retried),
    E.RUNNING: ("start", lambda export: export.start("worker-1"), ExportJob.Started),
    E.SUCCEEDED: ("succeed", lambda export: export.succeed(OUTCOME), ExportJob.Succeeded),
    E.FAILED: ("fail", lambda export: export.fail("coremltools crashed"), ExportJob.Failed),
}
PATHS = {
    E.QUEUED: [],
    E.RUNNING: [E.RUNNING],
    E.SUCCEEDED: [E.RUNNING, E.SUCCEEDED],
    E.FAILED: [E.FAILED],
}
LEGAL = [(a, b) for a, nexts in EXPORT_STATUS.allowed.items() for b in sorted(nexts)]
ILLEGAL = [(a, b) for a, b in product(E, COMMANDS) if not EXPORT_STATUS.can(a, b)]


def export_in(status: ExportStatus) -> ExportJob:
    export = ExportJob(request=REQUEST)
    for step in PATHS[status]:
        COMMANDS[step][1](export)
    export.collect_events()
    assert export.status is status
    return export


def test_the_helpers_cover_the_whole_table() -> None:
    assert set(PATHS) == set(EXPORT_STATUS.allowed) == set(E)
    assert {b for nexts in EXPORT_STATUS.allowed.values() for b in nexts} <= set(COMMANDS)


@pytest.mark.parametrize(("before", "after"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition_records_exactly_one_event(
    before: ExportStatus, after: ExportStatus
) -> None:
    export = export_in(before)
    version = export.version
    _, command, event_class = COMMANDS[after]

    command(export)

    assert [type(e) for e in export.collect_events()] == [event_class]
    assert export.status is after
    assert export.version == version + 1


@pytest.mark.parametrize(("before", "after"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_refused_and_records_nothing(
    before: ExportStatus, after: ExportStatus
) -> None:
    export = export_in(before)
    version = export.version
    action, command, _ = COMMANDS[after]

    with pytest.raises(IllegalTransition) as refused:
        command(export)

    error = refused.value
    assert (error.entity, error.entity_id, error.action, error.status) == (
        "export job",
        export.id,
        action,
        before.value,
    )
    assert str(export.id) in str(error)
    assert export.collect_events() == []
    assert export.version == version
    assert export.status is before


def test_an_export_ends_succeeded_or_failed_and_only_a_failed_one_can_be_retried() -> None:
    assert frozenset({E.SUCCEEDED, E.FAILED}) == ENDED
    assert EXPORT_STATUS.terminal == {E.SUCCEEDED}
    assert export_in(E.SUCCEEDED).is_terminal and export_in(E.FAILED).is_terminal
    assert not export_in(E.RUNNING).is_terminal


def test_a_retry_queues_a_failed_export_again_with_its_request() -> None:
    export = export_in(E.FAILED)

    export.retry("the converter was fixed")

    [retried] = export.collect_events()
    assert isinstance(retried, ExportJob.Retried)
    assert (retried.request, retried.reason) == (REQUEST, "the converter was fixed")
    assert (export.status, export.error, export.attempts) == (E.QUEUED, None, 0)
    assert export.start("worker-2") == 1


def test_only_the_current_attempt_ends_the_export() -> None:
    export = export_in(E.QUEUED)
    first = export.start("worker-1")
    second = export.start("worker-2")  # the message came back: a new attempt
    export.collect_events()

    with pytest.raises(StaleAttempt, match=f"cannot succeed attempt {first}"):
        export.succeed(OUTCOME, first)
    with pytest.raises(StaleAttempt, match=f"cannot fail attempt {first}"):
        export.fail("late", first)
    assert export.collect_events() == []

    export.succeed(OUTCOME, second)

    [succeeded] = export.collect_events()
    assert isinstance(succeeded, ExportJob.Succeeded) and succeeded.attempt == second
    with pytest.raises(StaleAttempt):  # ended: no attempt is current any more
        export.fail("late", second)


def test_an_end_without_an_attempt_is_not_fenced() -> None:
    export = export_in(E.RUNNING)

    export.fail("moved to the dead-letter queue after 5 deliveries")

    assert export.status is E.FAILED


def test_a_redelivery_while_running_starts_a_new_attempt() -> None:
    export = export_in(E.RUNNING)

    export.start("worker-2")

    assert (export.attempts, export.worker) == (2, "worker-2")


def test_outcome_and_error_are_kept() -> None:
    succeeded, failed = export_in(E.SUCCEEDED), export_in(E.FAILED)

    assert succeeded.outcome == OUTCOME
    assert failed.error == "coremltools crashed"


def test_the_auto_id_is_one_per_job() -> None:
    job_id = uuid4()

    assert ExportJob.auto_id_for(job_id) == ExportJob.auto_id_for(job_id)
    assert ExportJob.auto_id_for(job_id) != ExportJob.auto_id_for(uuid4())
    assert ExportJob(request=REQUEST, export_id=ExportJob.auto_id_for(job_id)).id == (
        ExportJob.auto_id_for(job_id)
    )


def test_without_an_export_id_each_export_gets_a_new_id() -> None:
    assert ExportJob(request=REQUEST).id != ExportJob(request=REQUEST).id


@pytest.mark.parametrize(
    ("checkpoint", "expected"),
    [
        ("s3://bucket/runs/invoices/best/", "s3://bucket/runs/invoices/coreml/"),
        ("s3://bucket/runs/invoices/checkpoint-300/", "s3://bucket/runs/invoices/coreml/"),
        ("s3://bucket/models/final/", "s3://bucket/models/final/coreml/"),
        ("s3://bucket/", "s3://bucket/coreml/invoices/"),
        ("file:///srv/runs/invoices/best", "file:///srv/runs/invoices/coreml/"),
    ],
)
def test_bundles_go_beside_the_run(checkpoint: str, expected: str) -> None:
    assert default_output_prefix(checkpoint, "invoices") == expected
