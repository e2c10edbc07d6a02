"""The SageMaker training container's entrypoint: `python -m receipts.entrypoints.sagemaker_train`.

Reads SageMaker's environment (`ContainerEnv`), trains the job with the LayoutLM trainer,
records metrics and logs in the configured event store (`RECEIPTS_*` settings), writes the
best model to SM_MODEL_DIR (HF layout, safetensors) and checkpoints to /opt/ml/checkpoints
(a spot restart resumes from the latest one). A failure writes its reason to
/opt/ml/output/failure (SageMaker's FailureReason) and exits non-zero.

Who ends the Job: with RECEIPTS_JOB_ID (set by SageMakerTrainingBackend, which started the
job) the launcher does, from the results this leaves at `<runs prefix>/<job>/results.json`;
without it the container finds the job by name (RECEIPTS_JOB_NAME or SageMaker's
TRAINING_JOB_NAME), creates it from the hyperparameters if missing, and runs it to its end.

Rank 0 renews the job's lease while it trains (`application/training/leases.py`), so a
container that dies without a restart leaves a job `receipts jobs recover` can end.

Several processes (hosts times GPUs, or RECEIPTS_SAGEMAKER_PROCESSES_PER_HOST) train
data-parallel: started without torchrun's variables, the entrypoint re-launches itself
under torchrun. Only rank 0 opens the event store; it hands the others the TrainingSpec.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from receipts.adapters.sagemaker.container import ContainerEnv
from receipts.adapters.sagemaker.hyperparameters import from_hyperparameters
from receipts.adapters.sagemaker.results import write_results
from receipts.adapters.torch.checkpoints import directory_uri, saved_checkpoints
from receipts.adapters.torch.distributed import Distributed
from receipts.adapters.torch.trainer import LayoutLMTrainer, NoProgress, SilentReporter
from receipts.application.ports.training_backend import (
    TrainingCancelled,
    TrainingInterrupted,
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.leases import LeaseKeeper
from receipts.application.training.run_training import JobReporter, run_training
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.training import lease_terms, load_dataset
from receipts.domain.errors import JobNotFound
from receipts.domain.job import Job, JobDraft, JobStatus
from receipts.domain.job_metric import Evaluation
from receipts.settings import InvalidSettings, Settings

MODULE = "receipts.entrypoints.sagemaker_train"
EXIT_INTERRUPTED = 130


class ContainerError(Exception):
    """The container cannot train this job; the message becomes the FailureReason."""


class EpochLines(NoProgress):
    """One line per epoch on stdout (CloudWatch), also matchable by MetricDefinitions."""

    def start(self, total_steps: int, completed: int) -> None:
        print(f"training: {total_steps} steps, {completed} done", flush=True)

    def epoch(self, evaluation: Evaluation, field_f1: float | None, best: bool) -> None:
        loss = f"{evaluation.loss:.4f}" if evaluation.loss is not None else "n/a"
        print(
            f"epoch {evaluation.epoch}: step={evaluation.global_step} f1={evaluation.f1:.4f}"
            f" precision={evaluation.precision:.4f} recall={evaluation.recall:.4f}"
            f" loss={loss}{' (best)' if best else ''}",
            flush=True,
        )


def main() -> int:
    try:
        settings = Settings.from_env()
    except InvalidSettings as error:  # the failure goes where SageMaker looks by default
        _fail(ContainerEnv.from_env(Settings.model_construct()), str(error))
        return 1
    return run(settings)


def run(settings: Settings) -> int:
    container = ContainerEnv.from_env(settings)
    dist = Distributed.from_env()
    if not (dist.enabled or dist.launched) and container.world_size > 1:
        command = container.launch_command(MODULE)
        print("launching: " + " ".join(command), flush=True)
        os.execv(command[0], command)  # torchrun's agent replaces this process
    dist.start()
    try:
        return _train(settings, container, dist)
    finally:
        dist.stop()


def _train(settings: Settings, container: ContainerEnv, dist: Distributed) -> int:
    runtime: Runtime | None = None
    spec: TrainingSpec | None = None  # what rank 0 assigns and every rank trains
    failure: str | None = None
    if dist.is_main:
        try:
            runtime = bootstrap(settings)
            spec = _assign(settings, container, runtime)
        except Exception as error:
            failure = _reason(error)
    spec, failure = dist.broadcast((spec, failure))
    if failure is not None or spec is None:
        if dist.is_main:
            _fail(container, failure or "no job to train")
        return 1

    def load(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
        return load_dataset(_localised(spec, container.channel_dir), reporter)

    trainer = LayoutLMTrainer(
        load,
        container.checkpoint_dir,
        runtime.artifacts if runtime else None,
        (settings.runs_prefix or runtime.runs_prefix()) if runtime else None,
        progress=EpochLines(),
        keep_checkpoints=settings.sagemaker_keep_checkpoints,
        distributed=dist,
    )
    started = time.perf_counter()
    if not dist.is_main:
        return _follow(trainer, spec)
    assert runtime is not None
    try:
        if settings.job_id:
            code = _attached(container, runtime, trainer, spec)
        else:
            code = _owned(container, runtime, trainer, spec)
    finally:
        runtime.close()
    print(f"finished in {time.perf_counter() - started:.1f}s, exit {code}", flush=True)
    return code


def _assign(settings: Settings, container: ContainerEnv, runtime: Runtime) -> TrainingSpec:
    """The launcher's job (RECEIPTS_JOB_ID) resumed from the latest local checkpoint, or the
    container's own."""
    jobs = runtime.jobs
    if settings.job_id:
        job = jobs.get_job(settings.job_id)
        if job.is_terminal:
            raise ContainerError(f"job {job.name} is {job.status.value}: nothing to train")
        resume = _latest_checkpoint(container.checkpoint_dir / job.name)
        if resume:
            JobReporter(jobs, job.id).log("container restarted: resuming", checkpoint_uri=resume)
    else:
        job = _own_job(settings, container, runtime)
        resume = job.resume_checkpoint_uri
    return TrainingSpec(job_id=job.id, job_name=job.name, config=job.config, resume_from_uri=resume)


def _own_job(settings: Settings, container: ContainerEnv, runtime: Runtime) -> Job:
    """The job this container trains to its end: found by name, or created."""
    jobs = runtime.jobs
    name = settings.job_name or container.training_job_name
    if not name:
        raise ContainerError(
            "no job name: set RECEIPTS_JOB_NAME (or SageMaker's TRAINING_JOB_NAME)"
        )
    try:
        job = jobs.get_job_by_name(name)
    except JobNotFound:
        config = from_hyperparameters(container.hyperparameters)
        created = jobs.create_job(
            JobDraft(
                name=name,
                description=f"SageMaker training job {container.training_job_name or name}",
                created_by="sagemaker",
                config=config.model_dump(mode="json"),
            )
        )
        job = jobs.get_job(created)
    if job.status is JobStatus.RUNNING:
        # a container that died without ending its job (a spot interruption, a crash)
        checkpoint = _latest_checkpoint(container.checkpoint_dir / job.name)
        jobs.interrupt_job(job.id, checkpoint, "container restarted")
        job = jobs.get_job(job.id)
    if job.status not in (JobStatus.PENDING, JobStatus.INTERRUPTED):
        raise ContainerError(f"job {job.name} is {job.status.value}: nothing to train")
    return job


def _owned(
    container: ContainerEnv, runtime: Runtime, trainer: LayoutLMTrainer, spec: TrainingSpec
) -> int:
    """The container's own job: run_training starts (or resumes) it and ends it."""
    status = run_training(runtime.jobs, spec.job_id, trainer, lease=lease_terms(runtime.settings))
    job = runtime.jobs.get_job(spec.job_id)
    if status is JobStatus.SUCCEEDED:
        _write_model(container, spec)
        return 0
    if status is JobStatus.INTERRUPTED:
        print(f"interrupted: checkpoint {job.resume_checkpoint_uri}", flush=True)
        return EXIT_INTERRUPTED
    _fail(container, job.status_reason or f"job {job.name} {status.value}")
    return 1


def _attached(
    container: ContainerEnv, runtime: Runtime, trainer: LayoutLMTrainer, spec: TrainingSpec
) -> int:
    """The launcher's job: record as it trains (renewing the job's lease), leave the
    results; the launcher ends it."""
    jobs = runtime.jobs
    attempt = jobs.get_job(spec.job_id).attempts
    keeper = LeaseKeeper(jobs, spec.job_id, max(attempt, 1), lease_terms(runtime.settings))
    reporter = JobReporter(jobs, spec.job_id, lease=keeper)
    try:
        keeper.renew()
        with keeper:
            results = trainer.train(spec, reporter)
    except TrainingInterrupted as stop:
        reporter.log(f"interrupted: {stop.reason}", "warning", checkpoint_uri=stop.checkpoint_uri)
        return EXIT_INTERRUPTED
    except TrainingCancelled:
        _fail(container, f"job {spec.job_name} was cancelled")
        return 1
    except Exception as error:
        _fail(container, _reason(error))
        return 1
    assert trainer.runs_prefix is not None
    uri = write_results(runtime.artifacts, trainer.runs_prefix, spec.job_name, results)
    print(f"results: {uri}", flush=True)
    _write_model(container, spec)
    return 0


def _follow(trainer: LayoutLMTrainer, spec: TrainingSpec) -> int:
    """A rank other than 0: trains its shard; rank 0 reports and records the outcome."""
    try:
        trainer.train(spec, SilentReporter())
    except TrainingInterrupted:
        return EXIT_INTERRUPTED
    except Exception as error:
        print(f"rank {trainer.dist.rank}: {_reason(error)}", file=sys.stderr, flush=True)
        return 1
    return 0


def _write_model(container: ContainerEnv, spec: TrainingSpec) -> None:
    """The best checkpoint (weights, config, tokenizer) into SM_MODEL_DIR; run.json into
    SM_OUTPUT_DATA_DIR."""
    run_dir = container.checkpoint_dir / spec.job_name
    container.model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(run_dir / "best", container.model_dir, dirs_exist_ok=True)
    container.output_data_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "run.json").is_file():
        shutil.copy2(run_dir / "run.json", container.output_data_dir / "run.json")


def _localised(spec: TrainingSpec, channel: Path) -> TrainingSpec:
    """The spec with its S3 data paths pointed at the training channel's local copy."""
    data = spec.config.data
    changes: dict[str, Any] = {}
    for field in ("dataset", "dataset_snapshot_load"):
        source = getattr(data, field)
        if source and not Path(source).exists():
            local = _in_channel(source, channel)
            if local is not None:
                changes[field] = str(local)
    return spec.with_data(**changes)


def _in_channel(source: str, channel: Path) -> Path | None:
    candidate = channel / source.rstrip("/").rsplit("/", 1)[-1]
    if candidate.exists():
        return candidate
    files = sorted(channel.glob("*.jsonl")) if channel.is_dir() else []
    return files[0] if len(files) == 1 else None


def _latest_checkpoint(run_dir: Path) -> str | None:
    checkpoints = saved_checkpoints(run_dir)
    return directory_uri(checkpoints[-1]) if checkpoints else None


def _fail(container: ContainerEnv, reason: str) -> None:
    print(f"failed: {reason}", file=sys.stderr, flush=True)
    container.output_dir.mkdir(parents=True, exist_ok=True)
    container.failure_file.write_text(reason[:1024])


def _reason(error: Exception) -> str:
    if isinstance(error, ContainerError):
        return str(error)
    traceback.print_exc()
    return f"{type(error).__name__}: {error}"


if __name__ == "__main__":
    sys.exit(main())
