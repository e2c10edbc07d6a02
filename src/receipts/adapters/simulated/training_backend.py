"""A training backend that "trains" by writing a deterministic metric curve and checkpoint."""

from __future__ import annotations

import json
import random
from hashlib import sha256

from receipts.application.ports.artifact_store import ArtifactStore
from receipts.application.ports.training_backend import (
    TrainingCancelled,
    TrainingFailed,
    TrainingReporter,
    TrainingSpec,
)
from receipts.domain.artifacts import ArtifactURI
from receipts.domain.job import DatasetLineage, JobResults
from receipts.domain.job_metric import Evaluation, LabelScore


class SimulatedTrainingBackend:
    name = "simulated"

    def __init__(self, artifacts: ArtifactStore, runs_prefix: str, fail_rate: float = 0.0) -> None:
        self.artifacts = artifacts
        self.runs_prefix = ArtifactURI.parse(runs_prefix).as_prefix()
        self.fail_rate = fail_rate

    def train(self, spec: TrainingSpec, reporter: TrainingReporter) -> JobResults:
        config = spec.config
        hp = config.hyperparameters
        rng = random.Random(f"{hp.seed}:{spec.job_name}")
        reporter.run_config({"backend": self.name, "config": config.model_dump(mode="json")})
        labels = config.data.entity_labels()
        run = self.runs_prefix.join(spec.job_name)
        best_f1, best_epoch, since_best = -1.0, 0, 0
        epochs_run = 0
        for epoch in range(1, hp.epochs + 1):
            if reporter.cancelled():
                raise TrainingCancelled
            if rng.random() < self.fail_rate:
                raise TrainingFailed(f"loss became NaN at epoch {epoch} (simulated)")
            epochs_run = epoch
            f1 = min(0.99, 0.5 + 0.45 * (1 - 0.6**epoch) + rng.uniform(-0.02, 0.02))
            reporter.evaluation(
                Evaluation(
                    epoch=epoch,
                    global_step=epoch * 100,
                    f1=f1,
                    precision=min(1.0, f1 + 0.01),
                    recall=max(0.0, f1 - 0.01),
                    loss=round(1.5 * 0.7**epoch, 6),
                    train_loss=round(1.6 * 0.7**epoch, 6),
                    per_label={
                        label: LabelScore(precision=f1, recall=f1, f1=f1, support=10)
                        for label in labels
                    },
                )
            )
            checkpoint = run.join(f"checkpoint-{epoch * 100}")
            self._write_checkpoint(checkpoint, spec, epoch, f1)
            if f1 > best_f1 + hp.early_stopping_threshold:
                best_f1, best_epoch, since_best = f1, epoch, 0
                self._write_checkpoint(run.join("best"), spec, epoch, f1)
            else:
                since_best += 1
                if hp.early_stopping_patience and since_best >= hp.early_stopping_patience:
                    break
        digest = sha256(spec.job_name.encode()).hexdigest()
        return JobResults(
            best_checkpoint_uri=str(run.join("best").as_prefix()),
            best_f1=best_f1,
            best_epoch=best_epoch,
            epochs_run=epochs_run,
            stopped_early=epochs_run < hp.epochs,
            dataset=DatasetLineage(source="simulated", content_hash=digest, receipts=0, words=0),
        )

    def _write_checkpoint(
        self, uri: ArtifactURI, spec: TrainingSpec, epoch: int, f1: float
    ) -> None:
        labels = spec.config.data.bio_tags()
        config = {
            "model_type": "simulated",
            "epoch": epoch,
            "f1": f1,
            "id2label": dict(enumerate(labels)),
        }
        self.artifacts.put_bytes(str(uri.join("config.json")), json.dumps(config).encode())
