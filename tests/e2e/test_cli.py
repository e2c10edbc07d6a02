"""The command line (`receipts`, `layoutlm-cli`) as a user runs it, after the demo.

Each command bootstraps afresh on the embedded default (`local`: SQLite under
RECEIPTS_HOME) from what the demo's process left there, so these also prove that state
survives between processes; the demo itself is the installed console script.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.cli import no_traceback, run, run_script
from tests.e2e.conftest import Demo


def test_demo_runs_the_whole_path(demo: Demo) -> None:
    said = demo.result.said
    assert "mode: local" in said
    assert demo.name in said
    assert "job succeeded" in said
    assert "bundle:" in said
    assert (demo.home / "events").is_dir()


def test_demo_reads_rendered_receipts_as_ocr_jobs_and_writes_an_inference_report(
    demo: Demo,
) -> None:
    said = demo.result.said
    assert "7. OCR: 3 rendered receipts submitted" in said
    assert "handled 3" in said and "3 completion message(s)" in said
    jobs = run(demo.home, "ocr-jobs", "--json").json()
    assert len(jobs) == 3
    # a 2-epoch model may not find every field, but every job ends with a reason if it fails
    assert all(j["status"] == "completed" or j["error"] for j in jobs)
    assert any(j["status"] == "completed" and j["routing"] for j in jobs)
    assert "8. inference report of" in said
    [page] = (demo.home / "reports").glob("*.html")
    assert page.with_suffix(".json").is_file()


def test_jobs_list_shows_the_succeeded_demo_job(demo: Demo) -> None:
    [job] = run(demo.home, "jobs", "list", "--json").json()

    assert job["name"] == demo.name
    assert job["status"] == "succeeded"
    assert 0 < job["best_f1"] <= 1
    assert job["best_checkpoint_uri"].startswith("file://")


def test_jobs_list_filters_by_status(demo: Demo) -> None:
    succeeded = run(demo.home, "jobs", "list", "--status", "succeeded", "--json")
    failed = run(demo.home, "jobs", "list", "--status", "failed", "--json")

    assert [j["name"] for j in succeeded.json()] == [demo.name]
    assert failed.json() == []


def test_jobs_list_table(demo: Demo) -> None:
    result = run(demo.home, "jobs", "list")

    assert result.returncode == 0
    assert demo.name in result.stdout and "succeeded" in result.stdout


def test_jobs_show_has_metrics_logs_and_export(demo: Demo) -> None:
    result = run(demo.home, "jobs", "show", demo.name, "--json")

    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert shown["name"] == demo.name and shown["status"] == "succeeded"
    assert shown["job_config"]["model"]["model_size"] == "tiny"
    metrics = shown["metrics"]
    assert len(metrics) >= 1
    assert [m["epoch"] for m in metrics] == sorted(m["epoch"] for m in metrics)
    assert all(0 <= m["f1"] <= 1 for m in metrics)
    kinds = [entry["kind"] for entry in shown["logs"]]
    assert "run_config" in kinds and "run_summary" in kinds
    export = shown["export"]
    assert export["status"] == "succeeded"
    assert export["bundle_uri"]


def test_jobs_show_by_id_equals_by_name(demo: Demo) -> None:
    by_name = run(demo.home, "jobs", "show", demo.name, "--json").json()
    by_id = run(demo.home, "jobs", "show", by_name["job_id"], "--json").json()

    assert by_id == by_name


def test_jobs_show_human_output(demo: Demo) -> None:
    result = run(demo.home, "jobs", "show", demo.name)

    assert result.returncode == 0, result.stderr
    assert "status: succeeded" in result.said
    assert "export: succeeded" in result.said


def test_layoutlm_cli_is_the_same_command(demo: Demo) -> None:
    ours = run(demo.home, "jobs", "list", "--json")
    seeds = run_script(demo.home, "jobs", "list", "--json", script="layoutlm-cli")

    assert seeds.returncode == 0, seeds.stderr
    assert seeds.json() == ours.json()


def test_cancelling_a_succeeded_job_is_refused(demo: Demo) -> None:
    result = run(demo.home, "jobs", "cancel", demo.name)

    assert result.returncode == 1
    assert "cannot be cancelled" in result.said
    assert "succeeded" in result.said
    no_traceback(result)
    [job] = run(demo.home, "jobs", "list", "--json").json()
    assert job["status"] == "succeeded"


@pytest.mark.parametrize("command", ["show", "cancel"])
def test_unknown_job(tmp_path: Path, command: str) -> None:
    result = run(tmp_path, "jobs", command, "no-such-job")

    assert result.returncode == 1
    assert "job not found" in result.said
    assert "no-such-job" in result.said
    no_traceback(result)


def test_simulate_reports_lifecycles_per_second(tmp_path: Path) -> None:
    result = run(tmp_path, "simulate", "--jobs", "20")

    assert result.returncode == 0, result.stderr
    assert "20 lifecycles in" in result.said
    assert "lifecycles/s" in result.said
    assert "mode: memory" in result.said


def test_simulate_with_faults_reports_faults_and_invariants(tmp_path: Path) -> None:
    result = run(tmp_path, "simulate", "--faults", "--jobs", "16", "--seed", "5")

    assert "faults injected:" in result.said and "crash" in result.said
    assert "16 lifecycles in" in result.said and "wall time" in result.said
    violated = "invariants violated:" in result.said
    assert result.returncode == (1 if violated else 0), result.said
    assert violated or "invariants: all hold" in result.said
    no_traceback(result)


def test_invalid_mode_in_environment_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, "jobs", "list", RECEIPTS_MODE="bogus")

    assert result.returncode == 2
    assert "RECEIPTS_MODE" in result.said
    no_traceback(result)


def test_unknown_status_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path, "jobs", "list", "--status", "bogus")

    assert result.returncode != 0
    no_traceback(result)
    assert result.returncode == 2  # click's usage-error status
    assert "bogus" in result.said


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path, "jobs", "list", "--bogus")

    no_traceback(result)
    assert result.returncode == 2
    assert "--bogus" in result.said


def test_no_arguments_prints_help(tmp_path: Path) -> None:
    result = run(tmp_path)

    no_traceback(result)
    assert result.returncode in (0, 2)
    assert "Usage" in result.said
    assert "jobs" in result.said
