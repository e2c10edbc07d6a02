"""A tiny LayoutLM trained on synthetic receipts, once per test session, for the tests
that need a model that really predicts (OCR jobs, the inference report)."""

from __future__ import annotations

import json
from pathlib import Path

from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.synthetic.generator import generate_receipt
from receipts.bootstrap import bootstrap
from receipts.domain.job import JobDraft
from receipts.settings import Settings

TRAINING_RECEIPTS = 160
TRAINING_SEED = 7
"""Test receipts should use other seeds than this one (held out by construction)."""


def train_tiny_model(directory: Path, receipts: int = TRAINING_RECEIPTS, epochs: int = 6) -> Path:
    """Trains on `receipts` synthetic receipts (amounts merged); returns the `best/` checkpoint."""
    import torch

    from receipts.adapters.torch.trainer import LayoutLMTrainer
    from receipts.application.training.run_training import run_training
    from receipts.bootstrap.training import load_dataset

    directory.mkdir(parents=True, exist_ok=True)
    dataset = directory / "synthetic.jsonl"
    with dataset.open("w", encoding="utf-8") as out:
        for index in range(receipts):
            out.write(json.dumps(to_record(generate_receipt(TRAINING_SEED, index)[0])) + "\n")
    runtime = bootstrap(Settings(mode="memory", home=directory))
    torch.manual_seed(0)
    try:
        job_id = runtime.jobs.create_job(
            JobDraft(
                name="tiny-ocr-model",
                config={
                    "hyperparameters": {
                        "epochs": epochs,
                        "batch_size": 16,
                        "learning_rate": 2e-3,
                        "warmup_ratio": 0.1,
                        "early_stopping_patience": epochs,
                    },
                    "data": {"merge_amounts": True, "dataset": str(dataset)},
                    "model": {"model_size": "tiny", "max_seq_length": 128, "stride": 32},
                },
            )
        )
        trainer = LayoutLMTrainer(load_dataset, directory / "runs", handle_signals=False)
        run_training(runtime.jobs, job_id, trainer)
        job = runtime.jobs.get_job(job_id)
        assert job.results is not None, job.status_reason
        return directory / "runs" / job.name / "best"
    finally:
        runtime.close()
