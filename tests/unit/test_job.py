"""The training Job's status machine: every legal step records one event, nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import pytest

from receipts.domain.errors import IllegalTransition
from receipts.domain.job import JOB_STATUS, Job, JobDraft, JobResults, JobStatus

S = JobStatus
RESULTS = JobResults(
    best_checkpoint_uri="memory://receipts/runs/invoices/best/",
    best_f1=0.91,
    best_epoch=3,
    epochs_run=4,
)
CHECKPOINT = "memory://receipts/runs/invoices/checkpoint-300/"

# target status -> (the action an error names, the command)
COMMANDS: dict[JobStatus, tuple[str, Callable[[Job], None]]] = {
    S.RUNNING: ("start", lambda job: job.start()),
    S.SUCCEEDED: ("succeed", lambda job: job.succeed(RESULTS)),
    S.FAILED: ("fail", lambda job: job.fail("out of memory")),
    S.CANCELLED: ("be cancelled", lambda job: job.cancel()),
    S.INTERRUPTED: ("be interrupted", lambda job: job.interrupt(CHECKPOINT, "spot reclaimed")),
}
EVENTS = {
    S.SUCCEEDED: Job.Succeeded,
    S.FAILED: Job.Failed,
    S.CANCELLED: Job.Cancelled,
    S.INTERRUPTED: Job.Interrupted,
}
PATHS = {
    S.PENDING: [],
    S.RUNNING: [S.RUNNING],
    S.SUCCEEDED: [S.RUNNING, S.SUCCEEDED],
    S.FAILED: [S.FAILED],
    S.CANCELLED: [S.CANCELLED],
    S.INTERRUPTED: [S.RUNNING, S.INTERRUPTED],
}
LEGAL = [(a, b) for a, nexts in JOB_STATUS.allowed.items() for b in sorted(nexts)]
ILLEGAL = [(a, b) for a, b in product(S, COMMANDS) if not JOB_STATUS.can(a, b)]


def job_in(status: JobStatus, **draft: object) -> Job:
    job = Job(draft=JobDraft.model_validate({"name": "invoices", **draft}))
    for step in PATHS[status]:
        COMMANDS[step][1](job)
    job.collect_events()
    assert job.status is status
    return job


def expected_event(before: JobStatus, after: JobStatus) -> type:
    if after is S.RUNNING:
        return Job.Resumed if before is S.INTERRUPTED else Job.Started
    return EVENTS[after]


def test_the_helpers_cover_the_whole_table() -> None:
    assert set(PATHS) == set(JOB_STATUS.allowed) == set(S)
    assert {b for nexts in JOB_STATUS.allowed.values() for b in nexts} <= set(COMMANDS)


def test_a_new_job_is_pending_and_records_created() -> None:
    job = Job(draft=JobDraft(name="invoices"))

    events = job.collect_events()

    assert job.status is S.PENDING
    assert [type(e) for e in events] == [Job.Created]
    assert job.attempts == 0


@pytest.mark.parametrize(("before", "after"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition_records_exactly_one_event(
    before: JobStatus, after: JobStatus
) -> None:
    job = job_in(before)
    version = job.version

    COMMANDS[after][1](job)

    events = job.collect_events()
    assert [type(e) for e in events] == [expected_event(before, after)]
    assert job.status is after
    assert job.version == version + 1


@pytest.mark.parametrize(("before", "after"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_refused_and_records_nothing(
    before: JobStatus, after: JobStatus
) -> None:
    job = job_in(before)
    version = job.version
    action, command = COMMANDS[after]

    with pytest.raises(IllegalTransition) as refused:
        command(job)

    error = refused.value
    assert (error.entity, error.entity_id, error.action, error.status) == (
        "job",
        job.id,
        action,
        before.value,
    )
    assert f"job {job.id} cannot {action}: it is {before.value}" == str(error)
    assert job.collect_events() == []
    assert job.version == version
    assert job.status is before


@pytest.mark.parametrize("status", sorted(JOB_STATUS.terminal))
def test_a_terminal_job_accepts_no_command(status: JobStatus) -> None:
    job = job_in(status)

    for _, command in COMMANDS.values():
        with pytest.raises(IllegalTransition):
            command(job)

    assert job.collect_events() == []
    assert job.status is status


def test_terminal_statuses_are_succeeded_failed_and_cancelled() -> None:
    assert JOB_STATUS.terminal == {S.SUCCEEDED, S.FAILED, S.CANCELLED}


def test_starting_an_interrupted_job_resumes_it_from_its_checkpoint() -> None:
    job = job_in(S.INTERRUPTED)
    assert job.resume_checkpoint_uri == CHECKPOINT
    assert job.status_reason == "spot reclaimed"

    job.start()

    (resumed,) = job.collect_events()
    assert isinstance(resumed, Job.Resumed)
    assert resumed.from_checkpoint_uri == CHECKPOINT
    assert job.status is S.RUNNING
    assert job.status_reason is None
    assert job.attempts == 2


def test_succeeded_carries_the_name_and_tags_for_downstream_policies() -> None:
    job = job_in(S.RUNNING, tags={"team": "ocr"})

    job.succeed(RESULTS)

    (succeeded,) = job.collect_events()
    assert isinstance(succeeded, Job.Succeeded)
    assert (succeeded.job_name, succeeded.tags, succeeded.results) == (
        "invoices",
        {"team": "ocr"},
        RESULTS,
    )
    assert job.results == RESULTS


def test_started_at_is_when_the_job_started() -> None:
    job = job_in(S.PENDING)

    job.start()

    (started,) = job.collect_events()
    assert job.started_at == started.timestamp


@pytest.mark.parametrize("status", sorted(JOB_STATUS.terminal))
def test_ended_at_is_when_the_job_ended(status: JobStatus) -> None:
    job = job_in(S.RUNNING)

    COMMANDS[status][1](job)

    (ended,) = job.collect_events()
    assert job.ended_at == ended.timestamp


def test_fail_and_cancel_record_their_reason() -> None:
    failed, cancelled = job_in(S.RUNNING), job_in(S.PENDING)

    failed.fail("loss became NaN")
    cancelled.cancel()

    assert failed.status_reason == "loss became NaN"
    assert cancelled.status_reason == "cancelled by user"


@pytest.mark.parametrize("value", ["true", "TRUE", " yes ", "1", "on", "On"])
def test_a_truthy_skip_export_tag_skips_the_export(value: str) -> None:
    assert job_in(S.PENDING, tags={"skip-coreml-export": value}).skips_export


@pytest.mark.parametrize("value", ["false", "0", "no", "off", "", "nope", "truthy"])
def test_any_other_skip_export_tag_exports(value: str) -> None:
    assert not job_in(S.PENDING, tags={"skip-coreml-export": value}).skips_export


def test_an_untagged_job_exports() -> None:
    assert not job_in(S.PENDING).skips_export


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "x" * 129, "ünïcode"])
def test_a_bad_job_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="job name"):
        JobDraft(name=name)
