"""The CI guard of `tests/conftest.py`: a required tier that ran nothing fails the session
and the message names why (the reasons its tests were skipped)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from tests.conftest import TierGuard


def report(tier: str, outcome: str, when: str = "call", reason: str = "") -> pytest.TestReport:
    longrepr: Any = ("x.py", 1, f"Skipped: {reason}") if outcome == "skipped" else None
    return pytest.TestReport(
        nodeid=f"tests/{tier}/test_x.py::test_{outcome}",
        location=("x.py", 1, "test"),
        keywords={tier: 1},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,
        when=when,
    )


class Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str, **_: Any) -> None:
        self.lines.append(line)


def finish(guard: TierGuard, exitstatus: int = 0) -> tuple[int, str]:
    reporter = Reporter()
    plugins = SimpleNamespace(get_plugin=lambda name: reporter)
    session = SimpleNamespace(exitstatus=exitstatus, config=SimpleNamespace(pluginmanager=plugins))
    guard.pytest_sessionfinish(session)  # type: ignore[arg-type]
    return session.exitstatus, "\n".join(reporter.lines)


def test_a_required_tier_skipped_wholesale_fails_and_names_the_reason() -> None:
    guard = TierGuard(["ml", "browser"])
    guard.pytest_runtest_logreport(report("ml", "passed"))
    for _ in range(3):
        guard.pytest_runtest_logreport(
            report("browser", "skipped", "setup", "Debian chromium is not installed")
        )

    status, said = finish(guard)

    assert status == pytest.ExitCode.TESTS_FAILED
    assert "browser" in said and "Debian chromium is not installed (3)" in said
    assert "ml:" not in said


def test_a_tier_with_one_test_run_passes_and_an_absent_tier_is_named() -> None:
    ran = TierGuard(["aws"])
    ran.pytest_runtest_logreport(report("aws", "skipped", "setup", "no moto"))
    ran.pytest_runtest_logreport(report("aws", "failed"))
    absent = TierGuard(["aws"])

    assert finish(ran) == (0, "")
    status, said = finish(absent)
    assert status == pytest.ExitCode.TESTS_FAILED and "aws: none collected" in said


def test_a_run_that_already_failed_keeps_its_status() -> None:
    assert finish(TierGuard(["ml"]), exitstatus=2) == (2, "")


def test_a_module_skipped_at_import_names_its_reason() -> None:
    guard = TierGuard(["ml"])
    guard.pytest_collectreport(
        pytest.CollectReport(
            "tests/ml/test_training.py",
            "skipped",
            ("x.py", 1, "Skipped: could not import 'torch': No module named 'torch'"),
            [],
        )
    )

    status, said = finish(guard)

    assert status == pytest.ExitCode.TESTS_FAILED
    assert "ml: could not import 'torch': No module named 'torch' (1)" in said
