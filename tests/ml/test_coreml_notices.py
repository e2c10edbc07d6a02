"""coremltools' notices (its warnings, log records and stderr output) go to the log at debug
level, not to the terminal; the command line shows them only with RECEIPTS_LOG_LEVEL=debug."""

from __future__ import annotations

import logging
import sys
import warnings

import pytest

from receipts.entrypoints.structured_logs import configure_logging
from receipts.settings import Settings

library = pytest.importorskip("receipts.adapters.coreml.library")


def _notices() -> None:
    logging.getLogger("coremltools").warning("Torch version 9 has not been tested")
    logging.getLogger("coremltools").info("Converting op 7 : constant")  # chatter, not kept
    warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
    print("Running MIL pipeline: 10%\rRunning MIL pipeline: 100%", file=sys.stderr)


def test_notices_become_debug_records_and_reach_no_terminal(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as a library uses it: no command line has routed the logger (an earlier test may have)
    monkeypatch.setattr(library.log, "handlers", [])
    monkeypatch.setattr(library.log, "propagate", True)
    with (
        caplog.at_level(logging.DEBUG, logger="receipts.coreml"),
        library.notices_logged("converting"),
    ):
        _notices()

    said = capfd.readouterr()
    assert said.out == "" and said.err == ""
    notices = [r.getMessage() for r in caplog.records if r.name == "receipts.coreml"]
    assert notices == [
        "coremltools notice while converting: Torch version 9 has not been tested",
        "coremltools notice while converting: RuntimeWarning: overflow encountered in cast",
        "coremltools notice while converting: Running MIL pipeline: 100%",
    ]
    assert {r.levelno for r in caplog.records if r.name == "receipts.coreml"} == {logging.DEBUG}


@pytest.mark.parametrize(("level", "shown"), [("info", False), ("debug", True)])
def test_the_command_line_shows_them_only_at_debug_level(
    capfd: pytest.CaptureFixture[str], level: str, shown: bool
) -> None:
    configure_logging(Settings(mode="memory", log_level=level, log_format="json"))
    try:
        with library.notices_logged("converting"):
            _notices()
    finally:
        configure_logging(Settings(mode="memory"))

    err = capfd.readouterr().err
    assert ("Torch version 9 has not been tested" in err) is shown
    assert ('"level": "debug"' in err) is shown
