"""`receipts export-worker` as a user (or a service manager) runs it: a fresh process on
the embedded default (SQLite under RECEIPTS_HOME), stopped by signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from tests.e2e.conftest import Demo
from tests.support import quick_config

from receipts.adapters.sqlite.queue import SQLiteQueue
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.export import ExporterUnavailable, exporter_for
from receipts.bootstrap.training import simulated_backend
from receipts.domain.export_job import ExportJob, ExportStatus
from receipts.domain.job import JobDraft, JobStatus
from receipts.settings import Settings

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
SLOW = "tests.e2e.slow_exporter:SlowExporter"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@contextmanager
def runtime_at(home: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="local", home=home))
    try:
        yield runtime
    finally:
        runtime.close()


def succeed_jobs(home: Path, *names: str) -> list[UUID]:
    """Jobs trained to success (simulated): each queues its export."""
    ids = []
    with runtime_at(home) as runtime:
        for name in names:
            job_id = runtime.jobs.create_job(JobDraft(name=name, config=quick_config()))
            assert run_training(runtime.jobs, job_id, simulated_backend(runtime)) is (
                JobStatus.SUCCEEDED
            )
            ids.append(job_id)
    return ids


def environ(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIPTS_")}
    env.update(
        RECEIPTS_HOME=str(home),
        RECEIPTS_MODE="local",
        RECEIPTS_LOG_FORMAT="json",
        # the root (for tests.e2e.slow_exporter) after the caller's path (the code under test)
        PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
        COLUMNS="200",
        NO_COLOR="1",
        **extra,
    )
    return env


def command(*args: str, script: str = "receipts") -> list[str]:
    executable = BIN / script
    if not executable.exists():
        pytest.skip(f"console script {script} is not installed next to {sys.executable}")
    return [str(executable), "export-worker", *args]


def run(
    home: Path, *args: str, script: str = "receipts", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args, script=script),
        env=environ(home, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def events(stderr: str) -> list[dict[str, Any]]:
    """The worker's structured log lines (JSON), in order."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("worker", "").startswith("export-worker@"):
                found.append(record)
    return found


def test_once_exports_a_queued_job_and_reports_it(home: Path) -> None:
    [job_id] = succeed_jobs(home, "layoutlm-cli-once")
    export_id = ExportJob.auto_id_for(job_id)

    done = run(home, "--once", "--exporter", "simulated", "--wait-seconds", "0")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "handled 1 message(s): exported 1" in done.stdout
    logged = events(done.stderr)
    assert [e["event"] for e in logged] == [
        "export worker ready",
        "export started",
        "export succeeded",
        "export worker stopped",
    ]
    assert logged[0]["exporter"] == "simulated" and logged[0]["mode"] == "local"
    assert logged[2]["export_id"] == str(export_id) and logged[2]["level"] == "info"
    with runtime_at(home) as runtime:
        export = runtime.exports.get_export(export_id)
        assert export.status is ExportStatus.SUCCEEDED
        assert export.worker is not None and export.worker.startswith("export-worker@")
        [result] = runtime.queues.export_results.receive(max_messages=10)
        assert json.loads(result.body)["status"] == "succeeded"
        assert runtime.queues.export_jobs.approximate_count() == 0

    again = run(
        home, "--once", "--exporter", "simulated", "--wait-seconds", "0", script="layoutlm-cli"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "handled 0 message(s): none" in again.stdout


QUEUE_OPTIONS = ("--job-queue-url", "my-export-jobs", "--results-queue-url", "my-export-results")
SEED_ENV = {
    "COREML_EXPORT_JOB_QUEUE_URL": "my-export-jobs",
    "COREML_EXPORT_RESULTS_QUEUE_URL": "my-export-results",
}


@pytest.mark.parametrize("configured_by", ["options", "seed environment"])
def test_the_queue_options_or_the_seeds_variables_choose_the_queues(
    home: Path, configured_by: str
) -> None:
    home.mkdir()
    jobs = SQLiteQueue(home / "queues.sqlite", "my-export-jobs")
    checkpoint = home / "artifacts" / "runs" / "by-hand" / "best"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text('{"id2label": {"0": "O"}}')
    export_id = uuid4()
    jobs.send(
        json.dumps(
            {
                "export_id": str(export_id),
                "job_id": "layoutlm-by-hand",
                "model_s3_uri": f"file://{checkpoint}/",
                "quantize": "int8",
                "output_s3_prefix": f"file://{home / 'artifacts' / 'coreml'}/",
            }
        )
    )

    done = run(
        home,
        "--once",
        "--exporter",
        "simulated",
        "--wait-seconds",
        "0",
        *(QUEUE_OPTIONS if configured_by == "options" else ()),
        **(SEED_ENV if configured_by == "seed environment" else {}),
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert jobs.approximate_count() == 0
    [result] = SQLiteQueue(home / "queues.sqlite", "my-export-results").receive(max_messages=10)
    body = json.loads(result.body)
    assert (body["export_id"], body["status"]) == (str(export_id), "succeeded")
    assert body["bundle_uri"] == f"file://{home / 'artifacts' / 'coreml' / 'int8'}/"
    assert (home / "artifacts" / "coreml" / "int8" / "manifest.json").is_file()


def send_export(home: Path, checkpoint: Path) -> UUID:
    """The seeds' message for a checkpoint (which may not exist) on the default queue."""
    home.mkdir(exist_ok=True)
    export_id = uuid4()
    SQLiteQueue(home / "queues.sqlite", "coreml-export-job-queue").send(
        json.dumps(
            {
                "export_id": str(export_id),
                "job_id": "layoutlm-by-hand",
                "model_s3_uri": f"file://{checkpoint}/",
                "quantize": "int8",
                "output_s3_prefix": f"file://{home / 'artifacts' / 'coreml'}/",
            }
        )
    )
    return export_id


def test_once_exits_1_when_its_export_failed(home: Path) -> None:
    export_id = send_export(home, home / "no-such-checkpoint")

    done = run(home, "--once", "--exporter", "simulated", "--wait-seconds", "0")

    assert done.returncode == 1, done.stderr[-3000:]
    assert "handled 1 message(s): failed 1" in done.stdout
    assert "Traceback" not in done.stderr
    with runtime_at(home) as runtime:
        assert runtime.exports.get_export(export_id).status is ExportStatus.FAILED


def test_continuous_counts_every_outcome_and_exits_1_when_any_failed(home: Path) -> None:
    [job_id] = succeed_jobs(home, "layoutlm-cli-drained")
    send_export(home, home / "no-such-checkpoint")

    done = run(
        home, "--continuous", "--until-empty", "--exporter", "simulated", "--wait-seconds", "0"
    )

    assert done.returncode == 1, done.stderr[-3000:]
    assert "handled 2 message(s): exported 1, failed 1" in done.stdout
    with runtime_at(home) as runtime:
        export = runtime.exports.get_export(ExportJob.auto_id_for(job_id))
        assert export.status is ExportStatus.SUCCEEDED
        assert runtime.queues.export_jobs.approximate_count() == 0


def start_slow(home: Path, tmp_path: Path, seconds: float, *args: str) -> subprocess.Popen[str]:
    marker = tmp_path / "started"
    process = subprocess.Popen(
        command("--continuous", "--exporter", SLOW, "--wait-seconds", "0.2", *args),
        env=environ(home, SLOW_EXPORT_STARTED=str(marker), SLOW_EXPORT_SECONDS=str(seconds)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, stderr = process.communicate()
            pytest.fail(f"the export never started: {stderr[-3000:]}")
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[str], *signals: signal.Signals) -> tuple[int, str, str, float]:
    """Sends the signals (0.3 s apart); returns the exit code, output and seconds to exit."""
    sent = time.monotonic()
    for index, sig in enumerate(signals):
        if index:
            time.sleep(0.3)
        process.send_signal(sig)
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, stdout, stderr, time.monotonic() - sent


def test_sigterm_lets_the_current_export_finish_then_exits_0(home: Path, tmp_path: Path) -> None:
    first, second = succeed_jobs(home, "layoutlm-first", "layoutlm-second")
    process = start_slow(home, tmp_path, 1.5, "--grace-seconds", "30")

    code, stdout, stderr, _ = stop(process, signal.SIGTERM)

    assert code == 0, stderr[-3000:]
    assert "handled 1 message(s): exported 1" in stdout
    logged = [e["event"] for e in events(stderr)]
    assert "stop requested: finishing the current export" in logged
    assert "stop requested: no more messages taken" in logged
    with runtime_at(home) as runtime:
        statuses = {
            runtime.exports.get_export(ExportJob.auto_id_for(job_id)).status
            for job_id in (first, second)
        }
        assert statuses == {ExportStatus.SUCCEEDED, ExportStatus.QUEUED}
        assert runtime.queues.export_jobs.approximate_count() == 1


def test_an_export_over_the_grace_period_is_released_and_the_worker_exits_0(
    home: Path, tmp_path: Path
) -> None:
    [job_id] = succeed_jobs(home, "layoutlm-stuck")
    process = start_slow(home, tmp_path, 120, "--grace-seconds", "0.5")

    code, stdout, stderr, seconds = stop(process, signal.SIGTERM)

    assert code == 0, stderr[-3000:]
    assert seconds < 120  # stopped before the 120 s export would have finished
    assert "handled 1 message(s): released 1" in stdout
    with runtime_at(home) as runtime:
        export = runtime.exports.get_export(ExportJob.auto_id_for(job_id))
        assert (export.status, export.attempts) == (ExportStatus.RUNNING, 1)
        [message] = runtime.queues.export_jobs.receive(max_messages=1)  # visible again at once
        assert message.receive_count == 2


def test_a_second_signal_releases_at_once(home: Path, tmp_path: Path) -> None:
    succeed_jobs(home, "layoutlm-impatient")
    process = start_slow(home, tmp_path, 120, "--grace-seconds", "300")

    code, stdout, stderr, seconds = stop(process, signal.SIGINT, signal.SIGTERM)

    assert code == 0, stderr[-3000:]
    assert seconds < 120  # stopped before the 120 s export would have finished
    assert "released 1" in stdout


def test_an_unknown_exporter_is_refused_before_anything_runs(home: Path) -> None:
    done = run(home, "--once", "--exporter", "magic")

    assert done.returncode == 2
    said = " ".join(done.stderr.split())
    assert "unknown exporter 'magic': choose coreml, onnx, simulated or module:Class" in said
    assert "Traceback" not in done.stderr


def test_an_exporter_whose_library_is_missing_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "coremltools" else real(name, *a),
    )

    with pytest.raises(ExporterUnavailable) as refused:
        exporter_for("coreml")

    message = str(refused.value)
    assert "the coreml exporter needs coremltools, which is not installed here" in message
    assert "--exporter onnx | simulated" in message
    assert exporter_for("simulated").name == "simulated"
    with pytest.raises(ExporterUnavailable, match=r"receipts\.nowhere"):
        exporter_for("receipts.nowhere:Exporter")


def test_the_demo_ends_with_a_coreml_bundle_made_by_the_worker(demo: Demo) -> None:
    pytest.importorskip("coremltools")
    home = demo.home
    said = demo.result.said

    assert "export worker (coreml exporter) handled ['exported']" in said
    assert "(float16, exported in" in said
    assert "LayoutLM.mlpackage/Manifest.json" in said
    assert '"status":"succeeded"' in said.replace(" ", "")
    with runtime_at(home) as runtime:
        [job] = runtime.catalog().all()
        export = runtime.exports.auto_export_of(job.job_id)
        assert export is not None and export.outcome is not None
        bundle = Path(export.outcome.bundle_uri.removeprefix("file://"))
        assert (bundle / "LayoutLM.mlpackage" / "Manifest.json").is_file()
        assert bundle.parts[-2:] == ("coreml", "float16")
