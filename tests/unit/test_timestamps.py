"""Timestamps are timezone-aware UTC and serialise with `+00:00`, never `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from receipts.domain.job import Job, JobDraft
from receipts.domain.job_metric import Evaluation


def test_an_events_timestamp_serialises_with_an_explicit_offset() -> None:
    (created,) = Job(draft=JobDraft(name="invoices")).collect_events()
    assert isinstance(created, Job.Created)

    stamp = created.model_dump(mode="json")["timestamp"]

    assert stamp.endswith("+00:00")
    assert "Z" not in stamp
    assert datetime.fromisoformat(stamp) == created.timestamp


def test_another_offset_is_converted_to_utc() -> None:
    berlin = datetime(2026, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))

    evaluation = Evaluation(
        epoch=1, global_step=10, f1=0.5, precision=0.5, recall=0.5, timestamp=berlin
    )

    assert evaluation.timestamp.tzinfo is UTC
    assert evaluation.model_dump(mode="json")["timestamp"] == "2026-05-01T12:30:00+00:00"


def test_a_z_suffix_is_read_and_written_back_as_offset() -> None:
    evaluation = Evaluation.model_validate(
        {
            "epoch": 1,
            "global_step": 10,
            "f1": 0.5,
            "precision": 0.5,
            "recall": 0.5,
            "timestamp": "2026-05-01T12:30:00Z",
        }
    )
    assert evaluation.model_dump(mode="json")["timestamp"] == "2026-05-01T12:30:00+00:00"


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        Evaluation(
            epoch=1,
            global_step=10,
            f1=0.5,
            precision=0.5,
            recall=0.5,
            timestamp=datetime(2026, 5, 1, 12, 30),
        )
