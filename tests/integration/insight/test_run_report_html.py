"""The run report's HTML escapes what the store holds (log text is untrusted)."""

from __future__ import annotations

from tests.integration.insight.recorded import record_run

from receipts.adapters.html.run_report import render
from receipts.application.insight import Insight
from receipts.bootstrap import Runtime
from receipts.domain.job_log import LogEntry


def test_text_from_the_store_is_escaped(runtime: Runtime, insight: Insight) -> None:
    job_id = record_run(runtime, "escaped", [0.5], export=False)
    runtime.jobs.append_log(
        job_id,
        LogEntry(message="<script>alert(1)</script>"),
    )

    html = render(insight.report("escaped"), {})

    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
