"""The HTML run report in headless Chromium: it loads without console errors or failed
requests, shows every section and its plots (decoded, not broken images), and a
screenshot is kept for people to look at."""

from __future__ import annotations

from pathlib import Path

from tests.browser.chromium import rendered
from tests.integration.insight.recorded import record_run

from receipts.adapters.html.run_report import write_run_report
from receipts.application.insight import Insight
from receipts.bootstrap import Runtime

SECTIONS = [
    "Training curves",
    "Per-label scores",
    "Confusion matrix",
    "Data set",
    "Configuration",
    "Timings",
    "Export bundles",
    "Log",
]


def test_the_report_of_a_finished_run_renders_in_chromium(
    runtime: Runtime, insight: Insight, tmp_path: Path
) -> None:
    record_run(runtime, "receipts-2025-11-13-validate", [0.6808, 0.6912, 0.7021])
    page = write_run_report(insight.report("receipts-2025-11-13-validate"), tmp_path / "report")
    screenshot = tmp_path / "report.png"

    with rendered(page, screenshot) as shown:
        headings = shown.page.locator("h2").all_inner_texts()
        images = shown.page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])"
        )
        best_row = shown.page.locator("tr.best td").first.inner_text()
        title = shown.page.title()

    assert shown.console_errors == [] and shown.failed_requests == []
    assert headings == SECTIONS
    assert title == "Run report: receipts-2025-11-13-validate"
    assert sorted(src for src, _, _ in images) == [
        "confusion-matrix.png",
        "label-distribution.png",
        "label-scores.png",
        "training-curves.png",
    ]
    assert all(complete and width > 300 for _, complete, width in images), images
    assert best_row == "3"
    assert screenshot.stat().st_size > 50_000


def test_a_run_with_nothing_recorded_still_renders(
    runtime: Runtime, insight: Insight, tmp_path: Path
) -> None:
    record_run(runtime, "just-started", [], end="running")
    page = write_run_report(insight.report("just-started"), tmp_path / "report")

    with rendered(page) as shown:
        notes = shown.page.locator(".notes li").all_inner_texts()
        empty = shown.page.locator(".empty").count()

    assert shown.console_errors == [] and shown.failed_requests == []
    assert "no metrics recorded yet (the job is running)" in notes
    assert empty >= 4
    assert [p.name for p in (tmp_path / "report").iterdir()] == ["index.html"]
