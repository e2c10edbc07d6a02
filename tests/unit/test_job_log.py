"""A job's log: run_config, run_summary and messages, in order."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from receipts.domain.job_log import JobLog, LogEntry


def test_the_log_is_keyed_by_its_job() -> None:
    job_id = uuid4()

    log = JobLog(job_id=job_id)

    assert log.id == JobLog.id_for(job_id)
    assert log.id != JobLog.id_for(uuid4())
    assert [type(e) for e in log.collect_events()] == [JobLog.Created]


def test_each_entry_is_one_logged_event() -> None:
    log = JobLog(job_id=uuid4())
    log.collect_events()
    entry = LogEntry(kind="run_config", message="run config", data={"epochs": 3})

    log.append(entry)

    (logged,) = log.collect_events()
    assert isinstance(logged, JobLog.Logged)
    assert logged.entry == entry
    assert log.entries == [entry]


def test_entries_are_found_by_kind_in_order() -> None:
    log = JobLog(job_id=uuid4())
    config = LogEntry(kind="run_config", message="run config")
    first, second = LogEntry(message="epoch 1"), LogEntry(message="epoch 2", level="warning")
    summary = LogEntry(kind="run_summary", message="run succeeded")

    for entry in (config, first, second, summary):
        log.append(entry)

    assert log.of_kind("message") == [first, second]
    assert log.of_kind("run_config") == [config]
    assert log.of_kind("run_summary") == [summary]


def test_an_entry_is_an_info_message_by_default() -> None:
    entry = LogEntry(message="hello")
    assert (entry.kind, entry.level) == ("message", "info")


@pytest.mark.parametrize("bad", [{"kind": "debug_dump"}, {"level": "fatal"}])
def test_unknown_kinds_and_levels_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        LogEntry.model_validate({"message": "x", **bad})
