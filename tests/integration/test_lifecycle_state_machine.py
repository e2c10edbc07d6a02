"""Random command sequences against a memory Runtime, checked against a simple model.

Illegal and duplicate commands must raise the right domain error and change nothing;
after every step each job matches the model, terminal jobs stay put, every succeeded
job not tagged skip has exactly one export, and replaying the stored events gives back
what the application holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID, uuid5

import pytest
from eventsourcing.utils import get_topic
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from tests.support import export_worker

from receipts.application.queueing.messages import ExportMessage
from receipts.bootstrap import bootstrap
from receipts.domain.aggregate import NAMESPACE
from receipts.domain.errors import DuplicateJobName, IllegalTransition, JobNotFound
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.job import JOB_STATUS, SKIP_EXPORT_TAG, Job, JobDraft, JobResults, JobStatus
from receipts.domain.job_metric import Evaluation, MetricOutOfOrder
from receipts.settings import Settings

S = JobStatus
NAMES = st.sampled_from(["alpha", "beta", "gamma"])
# start and succeed come up twice as often, so that lifecycles often get past their start
TARGETS = st.sampled_from(
    [S.RUNNING, S.RUNNING, S.SUCCEEDED, *sorted(JOB_STATUS.allowed[S.RUNNING])]
)


@dataclass
class Tracked:
    job_id: UUID
    skip: bool
    status: JobStatus = S.PENDING
    version: int = 1
    evaluations: int = 0
    last_step: tuple[int, int] | None = None


class Lifecycles(RuleBasedStateMachine):
    names = Bundle("names")

    def __init__(self) -> None:
        super().__init__()
        self.runtime = bootstrap(Settings(mode="memory"))
        self.worker = export_worker(self.runtime)
        self.jobs: dict[str, Tracked] = {}
        self.exports: dict[UUID, ExportStatus] = {}
        self.terminal: dict[UUID, tuple[JobStatus, int]] = {}
        jobs = self.runtime.jobs
        self.commands: dict[JobStatus, Callable[[UUID, str], None]] = {
            S.RUNNING: lambda job_id, _: jobs.start_job(job_id),
            S.SUCCEEDED: self.succeed,
            S.FAILED: lambda job_id, _: jobs.fail_job(job_id, "diverged"),
            S.CANCELLED: lambda job_id, _: jobs.cancel_job(job_id),
            S.INTERRUPTED: lambda job_id, _: jobs.interrupt_job(job_id, "memory://r/ck/", "signal"),
        }

    def teardown(self) -> None:
        self.runtime.close()

    # --- helpers --------------------------------------------------------------------

    @contextmanager
    def nothing_recorded(self) -> Iterator[None]:
        def marks() -> tuple[object, ...]:
            return (
                self.runtime.jobs.recorder.max_notification_id(),
                self.runtime.exports.recorder.max_notification_id(),
                self.runtime.queues.export_jobs.approximate_count(),
            )

        before = marks()
        yield
        assert marks() == before

    def transition(self, name: str, target: JobStatus) -> None:
        tracked = self.jobs[name]
        command = self.commands[target]
        if not JOB_STATUS.can(tracked.status, target):
            with self.nothing_recorded(), pytest.raises(IllegalTransition) as refused:
                command(tracked.job_id, name)
            assert (refused.value.entity_id, refused.value.status) == (
                tracked.job_id,
                tracked.status.value,
            )
            return
        before = tracked.status
        command(tracked.job_id, name)
        tracked.status, tracked.version = target, tracked.version + 1
        if target is S.RUNNING:
            *_, last = self.runtime.jobs.repository.event_store.get(tracked.job_id)
            assert isinstance(last, Job.Resumed if before is S.INTERRUPTED else Job.Started)
        if target in JOB_STATUS.terminal:
            self.terminal[tracked.job_id] = (target, tracked.version)
        if target is S.SUCCEEDED and not tracked.skip:
            self.exports[ExportJob.auto_id_for(tracked.job_id)] = ExportStatus.QUEUED

    def succeed(self, job_id: UUID, name: str) -> None:
        best = self.runtime.runs_prefix() + f"{name}/best/"
        self.runtime.artifacts.put_bytes(best + "config.json", b'{"id2label": {"0": "O"}}')
        results = JobResults(best_checkpoint_uri=best, best_f1=0.9, best_epoch=1, epochs_run=1)
        self.runtime.jobs.succeed_job(job_id, results)

    def drain(self) -> Counter[str]:
        queued = [e for e, status in self.exports.items() if status is ExportStatus.QUEUED]
        handled: Counter[str] = Counter(self.worker.drain())
        assert handled["exported"] == len(queued)
        for export_id in queued:
            self.exports[export_id] = ExportStatus.SUCCEEDED
        return handled

    def create_job(self, name: str, skip: bool) -> str:
        tags = {SKIP_EXPORT_TAG: "true"} if skip else {}
        if name in self.jobs:
            with self.nothing_recorded(), pytest.raises(DuplicateJobName):
                self.runtime.jobs.create_job(JobDraft(name=name, tags=tags))
        else:
            job_id = self.runtime.jobs.create_job(JobDraft(name=name, tags=tags))
            self.jobs[name] = Tracked(job_id=job_id, skip=skip)
        return name

    # --- rules ----------------------------------------------------------------------

    @initialize(target=names, name=NAMES, skip=st.booleans())
    def first_job(self, name: str, skip: bool) -> str:
        return self.create_job(name, skip)

    @rule(target=names, name=NAMES, skip=st.booleans())
    def create(self, name: str, skip: bool) -> str:
        return self.create_job(name, skip)

    @rule(name=names, target_status=TARGETS)
    def command(self, name: str, target_status: JobStatus) -> None:
        """Starts, succeeds, fails, cancels or interrupts a job, legal or not."""
        self.transition(name, target_status)

    @precondition(lambda self: any(t.status is S.INTERRUPTED for t in self.jobs.values()))
    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        interrupted = sorted(n for n, t in self.jobs.items() if t.status is S.INTERRUPTED)
        self.transition(data.draw(st.sampled_from(interrupted)), S.RUNNING)

    @rule(name=NAMES, target_status=st.sampled_from(sorted(JOB_STATUS.allowed[S.RUNNING])))
    def command_a_job_that_does_not_exist(self, name: str, target_status: JobStatus) -> None:
        with self.nothing_recorded(), pytest.raises(JobNotFound):
            self.commands[target_status](uuid5(NAMESPACE, f"never-created:{name}"), name)

    @rule(name=names, epoch=st.integers(1, 3), step=st.integers(0, 4))
    def record_evaluation(self, name: str, epoch: int, step: int) -> None:
        evaluation = Evaluation(
            epoch=epoch, global_step=step * 100, f1=0.5, precision=0.5, recall=0.5
        )
        tracked = self.jobs[name]
        record = self.runtime.jobs.record_evaluation
        key = (epoch, step * 100)
        last = tracked.last_step
        if last is not None and key != last and key[1] < last[1]:
            with self.nothing_recorded(), pytest.raises(MetricOutOfOrder):
                record(tracked.job_id, evaluation)
            return
        recorded = record(tracked.job_id, evaluation)
        assert recorded is (key != last)
        if recorded:
            tracked.evaluations += 1
            tracked.last_step = key

    @rule()
    def run_export_worker(self) -> None:
        handled = self.drain()
        assert set(handled) <= {"exported"}

    @precondition(lambda self: bool(self.exports))
    @rule(data=st.data())
    def deliver_a_duplicate_export_message(self, data: st.DataObject) -> None:
        export_id = data.draw(st.sampled_from(sorted(self.exports)))
        request = self.runtime.exports.get_export(export_id).request
        message = ExportMessage(
            export_id=export_id,
            job_id=str(request.source_job_id),
            job_name=request.source_job_name,
            model_uri=request.checkpoint_uri,
            quantize=request.quantization,
            output_prefix=request.output_prefix,
        )
        self.runtime.queues.export_jobs.send(message.body())

        handled = self.drain()

        assert handled["resent"] == 1
        assert set(handled) <= {"exported", "resent"}

    # --- invariants -----------------------------------------------------------------

    @invariant()
    def jobs_are_what_the_model_says(self) -> None:
        jobs = self.runtime.jobs
        for name, tracked in self.jobs.items():
            job = jobs.get_job(tracked.job_id)
            assert (job.status, job.version) == (tracked.status, tracked.version)
            assert jobs.get_job_by_name(name).id == tracked.job_id
            assert len(jobs.evaluations_of(tracked.job_id)) == tracked.evaluations

    @invariant()
    def terminal_jobs_never_change(self) -> None:
        for job_id, (status, version) in self.terminal.items():
            job = self.runtime.jobs.get_job(job_id)
            assert (job.status, job.version) == (status, version)

    @invariant()
    def no_event_is_lost_on_reload(self) -> None:
        jobs = self.runtime.jobs
        for tracked in self.jobs.values():
            assert len(jobs.recorder.select_events(tracked.job_id)) == tracked.version
            # with a version, the repository replays the stored events instead of the cache
            replayed: Job = jobs.repository.get(tracked.job_id, version=tracked.version + 100)
            assert (replayed.status, replayed.version) == (tracked.status, tracked.version)

    @invariant()
    def each_succeeded_job_not_skipped_has_exactly_one_export(self) -> None:
        exports = self.runtime.exports
        requested = [
            n.originator_id
            for n in exports.recorder.select_notifications(
                start=1, limit=1000, topics=[get_topic(ExportJob.Requested)]
            )
        ]
        assert sorted(requested) == sorted(self.exports)
        for tracked in self.jobs.values():
            export = exports.auto_export_of(tracked.job_id)
            wanted = tracked.status is S.SUCCEEDED and not tracked.skip
            assert (export is not None) == wanted

    @invariant()
    def exports_run_once_and_each_queued_one_has_a_message(self) -> None:
        for export_id, status in self.exports.items():
            export = self.runtime.exports.get_export(export_id)
            assert export.status is status
            assert export.attempts == (1 if status is ExportStatus.SUCCEEDED else 0)
        queued = sum(status is ExportStatus.QUEUED for status in self.exports.values())
        assert self.runtime.queues.export_jobs.approximate_count() == queued


Lifecycles.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestLifecycles = Lifecycles.TestCase
