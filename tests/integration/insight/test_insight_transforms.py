"""The pure transforms under insight: config diffs, label deltas, epoch durations, the
confusion grid, the best-first order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from receipts.application.insight.comparison import (
    config_differences,
    flatten_config,
    label_f1_deltas,
)
from receipts.application.insight.run_report import confusion_grid, epoch_seconds
from receipts.application.insight.runs import RunRecord, best_first
from receipts.domain.config import JobConfig
from receipts.domain.job import JobStatus

values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b"]))
configs = st.lists(
    st.dictionaries(st.sampled_from(["lr", "batch", "labels", "seed"]), values, max_size=4),
    min_size=1,
    max_size=4,
)


@given(configs)
def test_a_key_is_listed_exactly_when_some_run_differs(configs: list[dict[str, object]]) -> None:
    differences = {d.key: d.values for d in config_differences(configs)}

    for key in {k for c in configs for k in c}:
        seen = [c.get(key) for c in configs]
        assert (key in differences) == (len({repr(v) for v in seen}) > 1)
        if key in differences:
            assert differences[key] == seen


def test_flattened_configs_name_section_and_field() -> None:
    flat = flatten_config(JobConfig.parse({"hyperparameters": {"batch_size": 64}}))

    assert flat["hyperparameters.batch_size"] == 64
    assert flat["data.allowed_labels"] == []
    assert flatten_config(None) == {}
    assert config_differences([flat, dict(flat)]) == []


scores = st.dictionaries(
    st.sampled_from(["AMOUNT", "DATE", "TIME"]), st.floats(0, 1, allow_nan=False), max_size=3
)


@given(st.lists(scores, min_size=1, max_size=4))
def test_label_deltas_are_against_the_first_run(per_run: list[dict[str, float]]) -> None:
    rows = label_f1_deltas(per_run)

    assert [r.label for r in rows] == sorted({k for s in per_run for k in s})
    for row in rows:
        assert row.f1 == [s.get(row.label) for s in per_run]
        for f1, delta in zip(row.f1, row.delta, strict=True):
            if f1 is None or row.f1[0] is None:
                assert delta is None
            else:
                assert delta == f1 - row.f1[0]


@given(st.lists(st.floats(0, 1e4, allow_nan=False), max_size=8))
def test_epoch_durations_add_up_to_the_elapsed_time(increments: list[float]) -> None:
    elapsed: list[float | None] = []
    total = 0.0
    for step in increments:
        total += step
        elapsed.append(total)

    seconds = epoch_seconds(elapsed)

    assert len(seconds) == len(elapsed)
    known = [s for s in seconds if s is not None]
    assert len(known) == len(seconds)
    assert abs(sum(known) - total) < 1e-6 * max(1.0, total)


def test_epoch_durations_unknown_where_the_trainer_did_not_time_or_restarted() -> None:
    assert epoch_seconds([10.0, None, 30.0, 5.0]) == [10.0, None, None, None]


confusions = st.dictionaries(
    st.sampled_from(["O", "AMOUNT", "DATE"]),
    st.dictionaries(st.sampled_from(["O", "AMOUNT", "DATE", "TIME"]), st.integers(0, 50)),
)


@given(confusions)
def test_the_confusion_grid_is_square_with_o_last_and_keeps_every_count(
    confusion: dict[str, dict[str, int]],
) -> None:
    labels, grid = confusion_grid(confusion)

    assert len(grid) == len(labels) and all(len(row) == len(labels) for row in grid)
    if "O" in labels:
        assert labels[-1] == "O"
    assert sum(map(sum, grid)) == sum(n for row in confusion.values() for n in row.values())
    for t, true_label in enumerate(labels):
        for p, predicted in enumerate(labels):
            assert grid[t][p] == confusion.get(true_label, {}).get(predicted, 0)


def _run(name: str, best: float | None, minutes: int) -> RunRecord:
    at = datetime(2025, 11, 13, tzinfo=UTC) + timedelta(minutes=minutes)
    return RunRecord(
        job_id=uuid4(),
        job_name=name,
        status=JobStatus.SUCCEEDED,
        created_at=at,
        updated_at=at,
        best_f1=best,
        epochs=[],
    )


def test_best_first_puts_runs_without_a_score_last_newest_first() -> None:
    runs = [_run("a", 0.3, 0), _run("b", None, 1), _run("c", 0.7, 2), _run("d", None, 3)]

    assert [r.job_name for r in best_first(runs)] == ["c", "a", "d", "b"]
