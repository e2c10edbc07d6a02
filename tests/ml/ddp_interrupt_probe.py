"""Run under torchrun by test_distributed_training: SIGTERM reaches rank 1 only, then resume.

    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_interrupt_probe.py OUT

Phase 1: rank 1 sends itself SIGTERM while it loads the data (its trainer's handler is
already installed), so only rank 1 sees a signal; the ranks must agree to stop at the same
step, rank 0 alone writes the checkpoint, and both raise TrainingInterrupted. Phase 2: both
resume from that checkpoint and train to the end. Each rank writes OUT/rank-<r>.json.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from receipts.adapters.synthetic.generator import generate_receipts
from receipts.adapters.torch.distributed import Distributed
from receipts.adapters.torch.trainer import LayoutLMTrainer
from receipts.application.ports.training_backend import (
    TrainingInterrupted,
    TrainingReporter,
    TrainingSpec,
)
from receipts.application.ports.training_data import PreparedDataset
from receipts.application.training.datasets import prepare_dataset
from receipts.domain.config import JobConfig
from receipts.domain.job_metric import Evaluation

RECEIPTS = generate_receipts(20, seed=0)
CONFIG = JobConfig.parse(
    {
        "hyperparameters": {"epochs": 2, "batch_size": 4, "early_stopping_patience": 0},
        "data": {"merge_amounts": True},
        "model": {"model_size": "tiny", "max_seq_length": 96, "stride": 16},
    }
)


class Recorder:
    def __init__(self) -> None:
        self.evaluations: list[int] = []
        self.logs: list[str] = []

    def evaluation(self, evaluation: Evaluation) -> None:
        self.evaluations.append(evaluation.epoch)

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        self.logs.append(message)

    def run_config(self, data: dict[str, Any]) -> None:
        self.logs.append("run_config")

    def checkpoint(self, uri: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def load(signal_self: bool, dist: Distributed) -> Any:
    def loader(spec: TrainingSpec, reporter: TrainingReporter) -> PreparedDataset:
        if signal_self and dist.rank == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        hp = spec.config.hyperparameters
        return prepare_dataset(
            RECEIPTS, spec.config.data, seed=hp.seed, o_entity_ratio=None, source="synthetic"
        )

    return loader


def main(out: Path) -> None:
    dist = Distributed.from_env()
    dist.start()
    spec = TrainingSpec(job_id=UUID(int=1), job_name="probe", config=CONFIG)
    report: dict[str, Any] = {"rank": dist.rank}
    first = Recorder()
    try:
        LayoutLMTrainer(load(True, dist), out / "runs", distributed=dist).train(spec, first)
        report["interrupted"] = None
    except TrainingInterrupted as stop:
        report["interrupted"] = {"checkpoint": stop.checkpoint_uri, "reason": stop.reason}
    report["first"] = {"evaluations": first.evaluations, "logs": first.logs}
    checkpoint = report["interrupted"] and report["interrupted"]["checkpoint"]
    second = Recorder()
    resumed = spec.model_copy(update={"resume_from_uri": checkpoint})
    results = LayoutLMTrainer(load(False, dist), out / "runs", distributed=dist).train(
        resumed, second
    )
    report["second"] = {"evaluations": second.evaluations, "logs": second.logs}
    report["results"] = results.model_dump(mode="json")
    (out / f"rank-{dist.rank}.json").write_text(json.dumps(report))
    dist.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
