"""Contract tests every TrainingBackend adapter must pass, on a JSONL file of synthetic
receipts: a run returns results that agree with the evaluations it reported, in epoch
order, after its run config; a run that cannot go on raises TrainingFailed naming why; a
cancelled job stops with TrainingCancelled and reports nothing after it saw the cancel; an
interrupted run resumes from the checkpoint it names and carries on where it stopped.

SageMaker runs on the moto server, where a training job is `Completed` as soon as it is
created and StopTrainingJob is not implemented (stack facts). Its container (which reports
evaluations and the run config to the event store itself, and uploads the checkpoints) is
played by the results file it would leave. So for SageMaker the clauses on what comes
through the reporter, on the stored checkpoint and on cancelling are skipped, each saying
why; `tests/unit/test_sagemaker_status.py` plays a job in progress, stopped or failed on a
scripted client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.memory.artifact_store import InMemoryArtifactStore
from receipts.adapters.simulated.training_backend import SimulatedTrainingBackend
from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.training_backend import (
    TrainingBackend,
    TrainingCancelled,
    TrainingFailed,
    TrainingInterrupted,
    TrainingSpec,
)
from receipts.domain.config import JobConfig
from receipts.domain.job import JobResults
from receipts.domain.job_log import LogLevel
from receipts.domain.job_metric import Evaluation

EPOCHS = 2
CONFIG: dict[str, Any] = {
    "hyperparameters": {
        "epochs": EPOCHS,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "early_stopping_patience": 0,
    },
    "data": {"merge_amounts": True},
    "model": {"model_size": "tiny", "max_seq_length": 64, "stride": 16},
}
CANCEL_BATCH_SIZE = 1
"""Enough optimizer steps in the first epoch (one per window of 16 receipts) to reach the
torch trainer's first look at `cancelled()`, at step 20."""


class Recorder:
    """A TrainingReporter that keeps every call in order; `cancel`: what cancelled() answers."""

    def __init__(self, cancel: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.cancel = cancel

    def evaluation(self, evaluation: Evaluation) -> None:
        self.calls.append(("evaluation", evaluation))

    def log(self, message: str, level: LogLevel = "info", **data: Any) -> None:
        self.calls.append(("log", message))

    def run_config(self, data: dict[str, Any]) -> None:
        self.calls.append(("run_config", data))

    def checkpoint(self, uri: str) -> None:
        self.calls.append(("checkpoint", uri))

    def cancelled(self) -> bool:
        self.calls.append(("cancelled", self.cancel))
        return self.cancel

    @property
    def evaluations(self) -> list[Evaluation]:
        return [value for kind, value in self.calls if kind == "evaluation"]

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


def _nothing(spec: TrainingSpec) -> None:
    pass


@dataclass(frozen=True)
class Adapter:
    name: str
    backend: TrainingBackend
    artifacts: ArtifactStore
    in_process: bool
    """Whether evaluations and the run config come through the reporter (a SageMaker
    container records them in the event store itself) and the checkpoints are its own."""
    failing: TrainingBackend
    """The backend, or a copy set up to fail (the simulated one reads no data: it fails
    only by its fail rate)."""
    failure: str
    """What the reason names when `failing` trains a spec whose dataset file is missing."""
    before: Callable[[TrainingSpec], None] = _nothing
    """What must exist before `train` (SageMaker: the results file its container leaves)."""
    interrupting: Callable[[int], TrainingBackend] | None = None
    """The backend told to stop after that many steps (a signal's stand-in), where it can
    be interrupted."""
    skip_cancel: str | None = None
    skip_resume: str | None = None


def _simulated(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    store, runs = InMemoryArtifactStore(), "memory://bucket/runs/"
    return Adapter(
        "simulated",
        SimulatedTrainingBackend(store, runs),
        store,
        in_process=True,
        failing=SimulatedTrainingBackend(store, runs, fail_rate=1.0),
        failure="loss became NaN at epoch 1",
        skip_resume="the simulated backend never raises TrainingInterrupted (no signals)",
    )


def _torch(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    request.getfixturevalue("one_torch_thread")
    from receipts.adapters.torch.trainer import LayoutLMTrainer
    from receipts.bootstrap.training import load_dataset

    store, runs = InMemoryArtifactStore(), "memory://bucket/runs/"

    def trainer(stop_after_steps: int | None = None) -> LayoutLMTrainer:
        return LayoutLMTrainer(
            load_dataset,
            tmp_path / "runs",
            store,
            runs,
            handle_signals=False,
            stop_after_steps=stop_after_steps,
        )

    backend = trainer()
    return Adapter(
        "torch",
        backend,
        store,
        in_process=True,
        failing=backend,
        failure="missing.jsonl: no such file",
        interrupting=trainer,
    )


def _sagemaker(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    pytest.importorskip("moto")
    from receipts.adapters.aws_clients import client, retry_config
    from receipts.adapters.s3.artifact_store import S3ArtifactStore
    from receipts.adapters.sagemaker.results import write_results
    from receipts.adapters.sagemaker.settings import SageMakerSettings
    from receipts.adapters.sagemaker.training_backend import SageMakerTrainingBackend

    request.getfixturevalue("aws_env")
    bucket = request.getfixturevalue("unique_name")
    client("s3").create_bucket(Bucket=bucket)
    store, runs = S3ArtifactStore(), f"s3://{bucket}/runs/"
    backend = SageMakerTrainingBackend(
        SageMakerSettings(
            role_arn="arn:aws:iam::123456789012:role/layoutlm-training",
            image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/layoutlm:latest",
            poll_seconds=0.01,
        ),
        runs,
        store,
        sagemaker=client("sagemaker", config=retry_config(max_attempts=1)),
    )

    def container_results(spec: TrainingSpec) -> None:
        best = f"{runs}{spec.job_name}/best/"
        results = JobResults(best_checkpoint_uri=best, best_f1=0.8, best_epoch=1, epochs_run=2)
        write_results(store, runs, spec.job_name, results)

    return Adapter(
        "sagemaker",
        backend,
        store,
        in_process=False,
        failing=backend,
        failure="missing.jsonl: no such file to upload",
        before=container_results,
        skip_cancel=(
            "moto creates a training job Completed, so it ends before the first look at"
            " cancelled(), and moto has no StopTrainingJob (tests/unit/test_sagemaker_status.py)"
        ),
        skip_resume=(
            "the launcher never raises TrainingInterrupted: SageMaker resumes an interrupted"
            " spot job itself, from its CheckpointConfig"
        ),
    )


ADAPTERS = {"simulated": _simulated, "torch": _torch, "sagemaker": _sagemaker}


@pytest.fixture(
    params=[
        "simulated",
        pytest.param("torch", marks=pytest.mark.ml),
        pytest.param("sagemaker", marks=pytest.mark.aws),
    ]
)
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    return ADAPTERS[request.param](request, tmp_path)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """A tiny model trains fastest on one thread (and never oversubscribes the cores)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "receipts.jsonl"
    lines = [json.dumps(to_record(r)) + "\n" for r in generate_receipts(20, seed=0)]
    path.write_text("".join(lines))
    return path


def spec(dataset: Path | str, resume_from_uri: str | None = None, **hp: Any) -> TrainingSpec:
    config = {
        **CONFIG,
        "hyperparameters": {**CONFIG["hyperparameters"], **hp},
        "data": {**CONFIG["data"], "dataset": str(dataset)},
    }
    return TrainingSpec(
        job_id=uuid4(),
        job_name=f"contract-{uuid4().hex[:12]}",
        config=JobConfig.parse(config),
        resume_from_uri=resume_from_uri,
    )


@dataclass(frozen=True)
class Trained:
    results: JobResults
    reporter: Recorder
    artifacts: ArtifactStore


@pytest.fixture(scope="module")
def runs() -> dict[str, Trained]:
    """One successful run per adapter, made by the first test that asks for it."""
    return {}


@pytest.fixture
def trained(adapter: Adapter, dataset: Path, runs: dict[str, Trained]) -> Trained:
    if adapter.name not in runs:
        job = spec(dataset)
        adapter.before(job)
        reporter = Recorder()
        runs[adapter.name] = Trained(
            adapter.backend.train(job, reporter), reporter, adapter.artifacts
        )
    return runs[adapter.name]


def test_results_describe_a_run_of_the_configured_epochs(trained: Trained) -> None:
    results = trained.results
    assert 0.0 <= results.best_f1 <= 1.0
    assert 1 <= results.best_epoch <= results.epochs_run <= EPOCHS
    assert results.stopped_early == (results.epochs_run < EPOCHS)


def test_evaluations_come_one_per_epoch_in_order_and_the_best_is_the_results(
    adapter: Adapter, trained: Trained
) -> None:
    if not adapter.in_process:
        assert trained.reporter.evaluations == []
        pytest.skip("the SageMaker container records its evaluations in the event store")
    evaluations = trained.reporter.evaluations
    assert [e.epoch for e in evaluations] == list(range(1, trained.results.epochs_run + 1))
    steps = [e.global_step for e in evaluations]
    assert steps == sorted(set(steps)) and steps[0] > 0
    best = next(e for e in evaluations if e.epoch == trained.results.best_epoch)
    assert trained.results.best_f1 == pytest.approx(best.f1)
    assert best.f1 == pytest.approx(max(e.f1 for e in evaluations))


def test_the_run_config_is_reported_once_before_any_evaluation(
    adapter: Adapter, trained: Trained
) -> None:
    if not adapter.in_process:
        pytest.skip("the SageMaker container logs its run config in the event store")
    kinds = trained.reporter.kinds()
    assert kinds.count("run_config") == 1
    assert kinds.index("run_config") < kinds.index("evaluation")


def test_the_best_checkpoint_is_in_the_artifact_store(adapter: Adapter, trained: Trained) -> None:
    if not adapter.in_process:
        pytest.skip("the SageMaker container uploads the checkpoints (not run on moto)")
    best = trained.results.best_checkpoint_uri
    assert best.endswith("/")
    assert trained.artifacts.exists(best + "config.json")


def test_a_run_that_cannot_go_on_raises_training_failed_naming_why(
    adapter: Adapter, tmp_path: Path
) -> None:
    job = spec(tmp_path / "missing.jsonl")
    adapter.before(job)

    with pytest.raises(TrainingFailed) as failed:
        adapter.failing.train(job, Recorder())

    assert adapter.failure in str(failed.value)


def test_a_cancelled_job_stops_without_results_or_later_reports(
    adapter: Adapter, dataset: Path
) -> None:
    if adapter.skip_cancel:
        pytest.skip(adapter.skip_cancel)
    job = spec(dataset, batch_size=CANCEL_BATCH_SIZE)
    adapter.before(job)
    reporter = Recorder(cancel=True)

    with pytest.raises(TrainingCancelled):
        adapter.backend.train(job, reporter)

    kinds = reporter.kinds()
    assert "cancelled" in kinds
    assert "evaluation" not in kinds[kinds.index("cancelled") :]


def test_an_interrupted_run_resumes_from_its_checkpoint_where_it_stopped(
    adapter: Adapter, trained: Trained, dataset: Path
) -> None:
    if adapter.interrupting is None:
        pytest.skip(adapter.skip_resume or "no way to interrupt it")
    first_epoch_steps = trained.reporter.evaluations[0].global_step
    job = spec(dataset)
    before = Recorder()

    with pytest.raises(TrainingInterrupted) as interrupted:
        adapter.interrupting(first_epoch_steps).train(job, before)

    checkpoint = interrupted.value.checkpoint_uri
    assert checkpoint is not None
    resumed = job.model_copy(update={"resume_from_uri": checkpoint})
    after = Recorder()
    results = adapter.backend.train(resumed, after)
    assert [e.epoch for e in before.evaluations] == [1]
    assert [e.epoch for e in after.evaluations] == list(range(2, EPOCHS + 1))
    assert before.evaluations[0].global_step < after.evaluations[0].global_step
    assert results.epochs_run == EPOCHS
