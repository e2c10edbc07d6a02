"""A trainer killed with SIGKILL (OOM, a lost node, a spot reclaim) on the embedded default:
its job is left running, `receipts jobs recover` ends it interrupted at its last whole
checkpoint once its lease expires, and `receipts train --resume` finishes it.

A real `receipts train` process (tiny LayoutLM, synthetic receipts) with a 10-second lease.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.cli import BIN, Result, environ, no_traceback
from tests.e2e.cli import run as run_cli
from tests.e2e.test_train_cli import FAST, TINY, path_of, wait_for

pytest.importorskip("torch")

LEASE = {"RECEIPTS_JOB_LEASE_SECONDS": "10"}


def run(home: Path, *args: str) -> Result:
    return run_cli(home, *args, **FAST, **LEASE)


def show(home: Path, job: str) -> dict[str, Any]:
    result = run(home, "jobs", "show", job, "--json")
    assert result.returncode == 0, result.said
    shown: dict[str, Any] = result.json()
    return shown


@dataclass
class Killed:
    home: Path
    status: str
    """The job's status right after the kill."""
    before: Result
    """`receipts train --resume` while the lease was still live."""
    recovered: Result
    """`receipts jobs recover` once it expired."""


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Killed:
    home = tmp_path_factory.mktemp("sigkill")
    dataset = home / "receipts.jsonl"
    assert run(home, "synthesize", "--output", str(dataset), "--count", "120").returncode == 0
    command = [str(BIN / "receipts"), "train", "--dataset", str(dataset), *TINY]
    # early stopping (no epoch gains 0.9 F1) keeps the resumed run short
    command += ["--epochs", "6", "--early-stopping-patience", "1"]
    command += ["--early-stopping-threshold", "0.9", "--job-name", "dead", "--merge-amounts"]
    run_dir = home / "artifacts" / "runs" / "dead"
    process = subprocess.Popen(
        command,
        env=environ(home, **FAST, **LEASE),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # run.json is rewritten after each epoch's checkpoint is whole and on the lease
        assert wait_for((run_dir / "run.json").is_file, timeout=240), process.poll()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    status = show(home, "dead")["status"]
    before = run(home, "train", "--resume", "dead")
    time.sleep(10.5)  # the lease of the killed trainer runs out
    recovered = run(home, "jobs", "recover")
    return Killed(home, status, before, recovered)


def test_a_killed_trainer_leaves_its_job_running(killed: Killed) -> None:
    assert killed.status == "running"


def test_resume_is_refused_while_the_dead_trainers_lease_is_live(killed: Killed) -> None:
    result = killed.before

    assert result.returncode == 1, result.said
    no_traceback(result)
    assert "running, not interrupted" in result.said
    assert "lease held by" in result.said


def test_recover_interrupts_the_job_at_its_last_whole_checkpoint(killed: Killed) -> None:
    result = killed.recovered

    assert result.returncode == 0, result.said
    assert "interrupted dead" in result.said
    assert "resume with: receipts train --resume dead" in result.said
    job = show(killed.home, "dead")
    assert job["status"] == "interrupted"
    checkpoint = path_of(job["resume_checkpoint_uri"])
    assert checkpoint.name.startswith("checkpoint-") and not checkpoint.name.endswith(".partial")
    assert (checkpoint / "trainer_state.json").is_file()
    assert (checkpoint / "model.safetensors").is_file()


def test_recover_again_changes_nothing(killed: Killed) -> None:
    assert killed.recovered.returncode == 0

    again = run(killed.home, "jobs", "recover", "--json")

    assert again.returncode == 0, again.said
    assert again.json() == []


def test_the_recovered_job_resumes_to_succeeded(killed: Killed) -> None:
    assert show(killed.home, "dead")["status"] == "interrupted"

    resumed = run(killed.home, "train", "--resume", "dead")

    assert resumed.returncode == 0, resumed.said
    job = show(killed.home, "dead")
    assert job["status"] == "succeeded"
    assert any(e["message"].startswith("resumed at epoch") for e in job["logs"])


def test_interrupt_refuses_a_live_lease_and_force_ends_the_job(tmp_path: Path) -> None:
    from receipts.application.training.leases import LeaseTerms
    from receipts.bootstrap import bootstrap
    from receipts.domain.aggregate import utc_now
    from receipts.domain.job import JobDraft
    from receipts.settings import Settings

    runtime = bootstrap(Settings(mode="local", home=tmp_path))
    try:
        job_id = runtime.jobs.create_job(JobDraft(name="alive"))
        runtime.jobs.start_attempt(job_id, LeaseTerms().holder, utc_now(), 3600)
    finally:
        runtime.close()

    refused = run(tmp_path, "jobs", "interrupt", "alive")
    forced = run(tmp_path, "jobs", "interrupt", "alive", "--force", "--reason", "[drained]")

    assert refused.returncode == 1, refused.said
    no_traceback(refused)
    assert "lease is held by" in refused.said and "--force" in refused.said
    assert forced.returncode == 0, forced.said
    assert "failed alive: [drained], before its first whole checkpoint" in forced.said
    assert show(tmp_path, "alive")["status"] == "failed"
