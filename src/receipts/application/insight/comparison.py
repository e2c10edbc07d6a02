"""Runs side by side: the config keys that differ, metrics per epoch, best per run and the
per-label F1 of each run's best evaluation against the first run's."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, JsonValue

from receipts.application.insight.runs import RunRecord, best_evaluation, find_run, run_record
from receipts.application.training.job_views import JobCatalog
from receipts.domain.config import JobConfig
from receipts.domain.errors import InvalidInput


class ConfigDifference(BaseModel):
    """One config key (`section.name`) whose value is not the same in every run."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    key: str
    values: list[JsonValue]
    """One per run, in the order the runs were given (None: the run has no config)."""


class LabelF1(BaseModel):
    """A label's F1 in each run's best evaluation, and its change from the first run."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    label: str
    f1: list[float | None]
    delta: list[float | None]


class RunComparison(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    runs: list[RunRecord]
    config_differences: list[ConfigDifference]
    epochs: list[int]
    """Every epoch any run evaluated, ascending (the rows of a metrics-per-epoch table)."""
    label_f1: list[LabelF1]

    def f1_at(self, run: int, epoch: int) -> float | None:
        """The last F1 run `run` recorded in `epoch`, if any."""
        found = [e.f1 for e in self.runs[run].epochs if e.epoch == epoch]
        return found[-1] if found else None


def flatten_config(config: JobConfig | None) -> dict[str, JsonValue]:
    """`section.name` → value, the way the config reads in a table."""
    if config is None:
        return {}
    flat: dict[str, JsonValue] = {}
    for section, values in config.model_dump(mode="json").items():
        for name, value in values.items():
            flat[f"{section}.{name}"] = value
    return flat


def config_differences(configs: Sequence[Mapping[str, JsonValue]]) -> list[ConfigDifference]:
    """The keys whose values are not all equal (a key missing from one counts as None)."""
    keys: dict[str, None] = {}
    for config in configs:
        keys.update(dict.fromkeys(config))
    differences = []
    for key in keys:
        values = [config.get(key) for config in configs]
        if len({json.dumps(value, sort_keys=True) for value in values}) > 1:  # True is not 1
            differences.append(ConfigDifference(key=key, values=values))
    return differences


def label_f1_deltas(per_run: Sequence[Mapping[str, float]]) -> list[LabelF1]:
    """Each label any run scored; deltas against the first run (None where either lacks it)."""
    labels = sorted({label for scores in per_run for label in scores})
    rows = []
    for label in labels:
        f1 = [scores.get(label) for scores in per_run]
        base = f1[0] if f1 else None
        delta = [None if v is None or base is None else v - base for v in f1]
        rows.append(LabelF1(label=label, f1=f1, delta=delta))
    return rows


def compare_runs(catalog: JobCatalog, keys: Sequence[str]) -> RunComparison:
    if len(keys) < 2:
        raise InvalidInput("comparison", [f"give at least two jobs, got {len(keys)}"])
    runs: list[RunRecord] = []
    per_label: list[dict[str, float]] = []
    for key in keys:
        summary = find_run(catalog, key)
        evaluations = catalog.metrics(summary.job_id)
        runs.append(run_record(summary, evaluations))
        best = best_evaluation(evaluations, summary.best_f1)
        per_label.append({k: v.f1 for k, v in best.per_label.items()} if best else {})
    epochs: set[int] = {e.epoch for run in runs for e in run.epochs}
    return RunComparison(
        runs=runs,
        config_differences=config_differences([flatten_config(r.config) for r in runs]),
        epochs=sorted(epochs),
        label_f1=label_f1_deltas(per_label),
    )
