"""A job's metric series: evaluations only move forward; a repeat is harmless."""

from __future__ import annotations

import math
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from receipts.domain.job_metric import Evaluation, JobMetric, MetricOutOfOrder


def evaluation(epoch: int, step: int, f1: float = 0.8, **fields: Any) -> Evaluation:
    return Evaluation(epoch=epoch, global_step=step, f1=f1, precision=f1, recall=f1, **fields)


def series_with(*evaluations: Evaluation) -> JobMetric:
    series = JobMetric(job_id=uuid4())
    for item in evaluations:
        series.record(item)
    series.collect_events()
    return series


def test_the_series_is_keyed_by_its_job() -> None:
    job_id = uuid4()

    series = JobMetric(job_id=job_id)

    assert series.id == JobMetric.id_for(job_id)
    assert JobMetric.id_for(job_id) != JobMetric.id_for(uuid4())
    assert [type(e) for e in series.collect_events()] == [JobMetric.Created]


def test_an_evaluation_is_recorded_as_one_event() -> None:
    series = series_with()
    first = evaluation(1, 100)

    assert series.record(first) is True

    (recorded,) = series.collect_events()
    assert isinstance(recorded, JobMetric.Recorded)
    assert recorded.evaluation == first
    assert series.evaluations == [first]


def test_a_repeat_of_the_last_evaluation_is_ignored() -> None:
    series = series_with(evaluation(1, 100))
    version = series.version

    assert series.record(evaluation(1, 100, f1=0.5)) is False

    assert series.collect_events() == []
    assert series.version == version
    assert len(series.evaluations) == 1


def test_an_evaluation_from_before_the_last_is_refused() -> None:
    series = series_with(evaluation(1, 100), evaluation(2, 200))
    version = series.version

    with pytest.raises(MetricOutOfOrder, match="step 100 comes before the last recorded step 200"):
        series.record(evaluation(1, 100))

    assert series.collect_events() == []
    assert series.version == version


def test_later_evaluations_are_appended_in_order() -> None:
    series = series_with(evaluation(1, 100))

    series.record(evaluation(2, 200))
    series.record(evaluation(3, 300))

    assert [e.global_step for e in series.evaluations] == [100, 200, 300]
    assert len(series.collect_events()) == 2


def test_best_is_the_highest_f1_and_the_earliest_among_ties() -> None:
    series = series_with(
        evaluation(1, 100, f1=0.7), evaluation(2, 200, f1=0.9), evaluation(3, 300, f1=0.9)
    )

    best, latest = series.best(), series.latest()

    assert best is not None and best.epoch == 2
    assert latest is not None and latest.epoch == 3


def test_an_empty_series_has_no_best_or_latest() -> None:
    series = series_with()
    assert series.best() is None
    assert series.latest() is None


@pytest.mark.parametrize(
    "bad",
    [
        {"loss": math.nan},
        {"loss": math.inf},
        {"train_loss": -math.inf},
        {"train_loss": math.nan},
        {"f1": 1.01},
        {"f1": -0.01},
        {"precision": 1.5},
        {"recall": -0.2},
        {"elapsed_seconds": -1.0},
        {"epoch": -1},
    ],
    ids=str,
)
def test_an_evaluation_with_an_impossible_value_is_refused(bad: dict[str, float]) -> None:
    fields: dict[str, Any] = {"epoch": 1, "global_step": 100, "f1": 0.8}
    fields |= {"precision": 0.8, "recall": 0.8, **bad}

    with pytest.raises(ValidationError, match=next(iter(bad))):
        Evaluation(**fields)


@pytest.mark.parametrize("score", [0.0, 1.0])
def test_scores_on_the_bounds_are_accepted(score: float) -> None:
    assert evaluation(1, 100, f1=score, loss=0.0).f1 == score
