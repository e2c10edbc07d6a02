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
        id2label = dict(enumerate(config.data.bio_tags()))
        run = self.runs_prefix.join(spec.job_name)
        # checkpoint URIs under the (validated) run; the store validates each one again
        run_uri = str(run)
        best_f1, best_epoch, since_best = -1.0, 0, 0
        epochs_run = 0
        for epoch in range(1, hp.epochs + 1):
            if reporter.cancelled():
                raise TrainingCancelled
            if rng.random() < self.fail_rate:
                raise TrainingFailed(f"loss became NaN at epoch {epoch} (simulated)")
            epochs_run = epoch
            f1 = min(0.99, 0.5 + 0.45 * (1 - 0.6**epoch) + rng.uniform(-0.02, 0.02))
            # every label scores the epoch's F1: one (frozen) score shared by all of them
            score = LabelScore(precision=f1, recall=f1, f1=f1, support=10)
            reporter.evaluation(
                Evaluation(
                    epoch=epoch,
                    global_step=epoch * 100,
                    f1=f1,
                    precision=min(1.0, f1 + 0.01),
                    recall=max(0.0, f1 - 0.01),
                    loss=round(1.5 * 0.7**epoch, 6),
                    train_loss=round(1.6 * 0.7**epoch, 6),
                    per_label=dict.fromkeys(labels, score),
                )
            )
            checkpoint = self._checkpoint(epoch, f1, id2label)
            self.artifacts.put_bytes(f"{run_uri}/checkpoint-{epoch * 100}/config.json", checkpoint)
            if f1 > best_f1 + hp.early_stopping_threshold:
                best_f1, best_epoch, since_best = f1, epoch, 0
                self.artifacts.put_bytes(f"{run_uri}/best/config.json", checkpoint)
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

    @staticmethod
    def _checkpoint(epoch: int, f1: float, id2label: dict[int, str]) -> bytes:
        config = {"model_type": "simulated", "epoch": epoch, "f1": f1, "id2label": id2label}
        return json.dumps(config).encode()
