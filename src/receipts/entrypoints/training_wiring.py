"""Choosing where a job's receipts come from, and loading them prepared for training."""

from __future__ import annotations

from pathlib import Path

from receipts.adapters.jsonl.label_store import JSONLLabelStore
from receipts.adapters.jsonl.snapshot import load_snapshot, save_snapshot
from receipts.application.ports.label_store import LabelStore
from receipts.application.ports.resources import ResourceMissing
from receipts.application.ports.training_backend import (
    TrainingFailed,
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.datasets import prepare_dataset
from receipts.domain.config import DataConfig
from receipts.domain.errors import InvalidInput
from receipts.settings import Settings


def label_store_for(data: DataConfig, settings: Settings | None = None) -> LabelStore:
    """`--dataset` (JSONL), or `--dynamo-table` in aws mode (clients from the environment)."""
    if data.dataset:
        return JSONLLabelStore(Path(data.dataset))
    if data.dynamo_table:
        mode = (settings or Settings.from_env()).mode
        if mode != "aws":
            raise InvalidInput(
                "data config",
                [
                    f"dynamo_table {data.dynamo_table!r}: the DynamoDB label store needs aws"
                    f" mode (RECEIPTS_MODE=aws), not {mode}"
                ],
            )
        # boto3 loads only when the labels are in DynamoDB
        from receipts.adapters.dynamodb.label_store import DynamoDBLabelStore

        return DynamoDBLabelStore(data.dynamo_table)
    raise InvalidInput(
        "data config",
        ["no data: give --dataset PATH, --dynamo-table TABLE or --dataset-snapshot-load PATH"],
    )


def load_dataset(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
    """The job's prepared data set; any problem with the data fails the job with its reason."""
    data = spec.config.data
    hp = spec.config.hyperparameters
    try:
        if data.dataset_snapshot_load:
            dataset = load_snapshot(Path(data.dataset_snapshot_load))
            if list(dataset.tags) != data.bio_tags():
                raise InvalidInput(
                    "dataset snapshot",
                    [f"its labels {list(dataset.tags)} differ from the job's {data.bio_tags()}"],
                )
            reporter.log(
                "dataset snapshot loaded",
                path=data.dataset_snapshot_load,
                content_hash=dataset.content_hash,
            )
        else:
            store = label_store_for(data)
            receipts = list(store.receipts())
            dataset = prepare_dataset(
                receipts, data, seed=hp.seed, o_entity_ratio=hp.o_entity_ratio, source=store.source
            )
            skipped = getattr(store, "skipped_empty", 0)
            if skipped:
                reporter.log(f"skipped {skipped} receipt(s) with no words", "warning")
        if data.dataset_snapshot_save:
            path = save_snapshot(dataset, Path(data.dataset_snapshot_save))
            reporter.log(
                "dataset snapshot saved", path=str(path), content_hash=dataset.content_hash
            )
    except (InvalidInput, ResourceMissing) as error:
        raise TrainingFailed(str(error)) from None
    return dataset
