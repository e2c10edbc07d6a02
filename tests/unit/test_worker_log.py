"""StdlibWorkerLog: one stdlib record per event; nothing formatted for a dropped level."""

from __future__ import annotations

import logging

import pytest

from receipts.application.queueing.worker_log import StdlibWorkerLog


class Counted:
    def __init__(self) -> None:
        self.formatted = 0

    def __str__(self) -> str:
        self.formatted += 1
        return "counted"


def test_an_event_is_one_record_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    log = StdlibWorkerLog("receipts.test-worker")
    with caplog.at_level(logging.INFO, logger="receipts.test-worker"):
        log.info("export started", export_id="e-1", attempt=2)
        log.warning("heartbeat failed", failures=1)
        log.error("receive failed", error="boom")

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "export started export_id=e-1 attempt=2"),
        (logging.WARNING, "heartbeat failed failures=1"),
        (logging.ERROR, "receive failed error=boom"),
    ]


def test_a_dropped_level_formats_no_field(caplog: pytest.LogCaptureFixture) -> None:
    log = StdlibWorkerLog("receipts.test-worker")
    field = Counted()
    with caplog.at_level(logging.WARNING, logger="receipts.test-worker"):
        log.info("export started", export_id=field)
        log.warning("export failed", export_id=field)

    assert field.formatted == 1
    assert [r.getMessage() for r in caplog.records] == ["export failed export_id=counted"]
