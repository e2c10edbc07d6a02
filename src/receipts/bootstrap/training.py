"""Choosing the training backend and where a job's receipts come from, and loading them
prepared for training."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.jsonl.snapshot import load_snapshot, save_snapshot
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.resources import ResourceMissing
from receipts.application.ports.training_backend import (
    TrainingBackend,
    TrainingFailed,
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.datasets import prepare_dataset
from receipts.application.training.leases import LeaseTerms
from receipts.bootstrap import Runtime
from receipts.domain.config import DataConfig, JobConfig
from receipts.domain.errors import InvalidInput
from receipts.settings import Settings

if TYPE_CHECKING:
    from receipts.adapters.sagemaker.training_backend import SageMakerTrainingBackend
    from receipts.adapters.torch.trainer import LayoutLMTrainer, TrainingProgress

# (runtime, the start-training request or None) → the backend that trains the job
BackendFactory = Callable[[Runtime, Any], TrainingBackend]


def lease_terms(settings: Settings) -> LeaseTerms:
    """How this process's trainers hold their jobs' leases (`RECEIPTS_JOB_LEASE_SECONDS`)."""
    return LeaseTerms(seconds=settings.job_lease_seconds)


def label_store_for(data: DataConfig, settings: Settings | None = None) -> LabelStore:
    """`--dataset` (JSONL), or `--dynamo-table` in aws mode (clients from the environment)."""
    settings = settings or Settings.from_env()
    if data.dataset:
        return JSONLLabelStore(
            Path(data.dataset),
            max_line_bytes=settings.max_jsonl_line_bytes,
            max_words=settings.max_receipt_words,
        )
    if data.dynamo_table:
        if settings.mode != "aws":
            raise InvalidInput(
                "data config",
                [
                    f"dynamo_table {data.dynamo_table!r}: the DynamoDB label store needs aws"
                    f" mode (RECEIPTS_MODE=aws), not {settings.mode}"
                ],
            )
        # boto3 loads only when the labels are in DynamoDB
        from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore

        return DynamoDBLabelStore(data.dynamo_table)
    raise InvalidInput(
        "data config",
        ["no data: give --dataset PATH, --dynamo-table TABLE or --dataset-snapshot-load PATH"],
    )


def read_dataset(
    config: JobConfig, settings: Settings | None = None
) -> tuple[PreparedDataset, list[str]]:
    """The job's prepared data set and what to warn about; raises InvalidInput or
    ResourceMissing naming what is wrong with the data. `receipts train` calls it before it
    records a job, the trainer again when it starts."""
    data, hp = config.data, config.hyperparameters
    if data.dataset_snapshot_load:
        dataset = load_snapshot(Path(data.dataset_snapshot_load))
        if list(dataset.tags) != data.bio_tags():
            raise InvalidInput(
                "dataset snapshot",
                [f"its labels {list(dataset.tags)} differ from the job's {data.bio_tags()}"],
            )
        return dataset, []
    store = label_store_for(data, settings)
    receipts = list(store.receipts())
    dataset = prepare_dataset(
        receipts, data, seed=hp.seed, o_entity_ratio=hp.o_entity_ratio, source=store.source
    )
    skipped = getattr(store, "skipped_empty", 0)
    return dataset, [f"skipped {skipped} receipt(s) with no words"] if skipped else []


def load_dataset(
    spec: TrainingSpec, reporter: TrainingReporter, settings: Settings | None = None
) -> PreparedDataset:
    """The job's prepared data set; any problem with the data fails the job with its reason."""
    data = spec.config.data
    try:
        dataset, warnings = read_dataset(spec.config, settings)
        if data.dataset_snapshot_load:
            reporter.log(
                "dataset snapshot loaded",
                path=data.dataset_snapshot_load,
                content_hash=dataset.content_hash,
            )
        for warning in warnings:
            reporter.log(warning, "warning")
        if data.dataset_snapshot_save:
            path = save_snapshot(dataset, Path(data.dataset_snapshot_save))
            reporter.log(
                "dataset snapshot saved", path=str(path), content_hash=dataset.content_hash
            )
    except (InvalidInput, ResourceMissing) as error:
        raise TrainingFailed(str(error)) from None
    return dataset


def layoutlm_trainer(
    runtime: Runtime,
    output_dir: Path | None = None,
    *,
    progress: TrainingProgress | None = None,
    keep_checkpoints: int = 2,
) -> LayoutLMTrainer:
    """The local torch trainer (`receipts train`, the demo); torch loads only here."""
    from receipts.adapters.torch.trainer import LayoutLMTrainer

    return LayoutLMTrainer(
        functools.partial(load_dataset, settings=runtime.settings),
        output_dir or runtime.settings.artifacts_dir / "runs",
        runtime.artifacts,
        runtime.runs_prefix(),
        progress=progress,
        keep_checkpoints=keep_checkpoints,
    )


def simulated_backend(
    runtime: Runtime, request: Any = None, *, fail_rate: float = 0.0
) -> TrainingBackend:
    from receipts.adapters.simulated.training_backend import SimulatedTrainingBackend

    return SimulatedTrainingBackend(runtime.artifacts, runtime.runs_prefix(), fail_rate=fail_rate)


def sagemaker_backend(runtime: Runtime, request: Any = None) -> SageMakerTrainingBackend:
    """SageMaker (aws mode), writing to the runtime's bucket; the container gets the runtime's
    settings so it records into the same event store, `RECEIPTS_SAGEMAKER_*` variables give
    the role, image and instances. A request's `use_spot` (the seeds' payload) turns managed
    spot training on."""
    if runtime.settings.mode != "aws":
        raise ValueError(
            f"the SageMaker backend needs RECEIPTS_MODE=aws (the container must reach the"
            f" event store), not {runtime.settings.mode!r}"
        )
    from receipts.adapters.sagemaker.settings import SageMakerSettings
    from receipts.adapters.sagemaker.training_backend import (
        SageMakerTrainingBackend,
        container_environment,
    )

    settings = SageMakerSettings.from_env()
    if getattr(request, "use_spot", False):
        settings = settings.model_copy(update={"use_spot": True})
    runs = runtime.runs_prefix()
    return SageMakerTrainingBackend(
        settings, runs, runtime.artifacts, container_environment(runtime.settings, runs)
    )


def training_backend_for(choice: str) -> BackendFactory | None:
    """The factory `RECEIPTS_TRAINING_BACKEND` names: none, simulated or module:callable
    (e.g. `receipts.bootstrap.training:sagemaker_backend`)."""
    if choice in ("", "none"):
        return None
    if choice == "simulated":
        return simulated_backend
    named = f"RECEIPTS_TRAINING_BACKEND={choice!r}"
    module_name, _, attribute = choice.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{named}: expected none, simulated or package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{named}: {error}") from None
    if not callable(factory):
        raise ValueError(f"{named} is not callable")
    chosen: BackendFactory = factory
    return chosen
