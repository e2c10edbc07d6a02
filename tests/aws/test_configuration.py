"""AWS by configuration alone: the installed `receipts` command, unchanged, runs complete
lifecycles on DynamoDB, SQS and S3 (the moto server) when the environment says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from receipts.adapters.aws_clients import endpoint_for

BIN = Path(sys.executable).parent


def _resources(name: str) -> dict[str, str]:
    return {
        "RECEIPTS_EVENTS_TABLE": f"{name}-events",
        "RECEIPTS_TABLE": f"{name}-table",
        "RECEIPTS_BUCKET": f"{name}-bucket",
        "RECEIPTS_EXPORT_QUEUE": f"{name}-export",
        "RECEIPTS_EXPORT_RESULTS_QUEUE": f"{name}-export-results",
        "RECEIPTS_OCR_QUEUE": f"{name}-ocr",
        "RECEIPTS_OCR_RESULTS_QUEUE": f"{name}-ocr-results",
    }


def _receipts(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / "receipts"
    if not executable.exists():
        pytest.skip(f"console script receipts is not installed next to {sys.executable}")
    return subprocess.run(
        [str(executable), *args],
        env={**os.environ, **env, "RECEIPTS_HOME": str(tmp_path), "RECEIPTS_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + " " + done.stderr).split())


def test_simulate_runs_lifecycles_on_aws_by_environment(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    env = {**aws_env, "RECEIPTS_MODE": "aws", "RECEIPTS_CREATE_RESOURCES": "true"}
    env.update(_resources(unique_name))

    done = _receipts(env, tmp_path, "simulate", "--jobs", "3", "--store", "aws", "--fail-rate", "0")

    assert done.returncode == 0, _said(done)
    said = _said(done)
    assert "mode: aws" in said
    assert "'succeeded': 3" in said

    # a second process sees the jobs the first recorded in DynamoDB
    listed = _receipts(env, tmp_path, "jobs", "list", "--json")
    assert listed.returncode == 0, _said(listed)
    jobs: list[dict[str, Any]] = json.loads(listed.stdout)
    assert len(jobs) == 3
    assert {job["status"] for job in jobs} == {"succeeded"}
    assert not any(path.suffix == ".sqlite" for path in tmp_path.rglob("*"))


def test_missing_resources_are_named_not_created(
    aws_env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    env = {**aws_env, "RECEIPTS_MODE": "aws", **_resources(unique_name)}

    done = _receipts(env, tmp_path, "jobs", "list")

    assert done.returncode != 0
    said = _said(done)
    assert "Traceback" not in said
    assert any(f"{unique_name}-{kind}" in said for kind in ("events", "export", "ocr")), said


def test_per_service_endpoint_wins_over_the_general_one() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:2",
    }

    assert endpoint_for("dynamodb", env) == "http://127.0.0.1:2"
    assert endpoint_for("sqs", env) == "http://127.0.0.1:1"
    assert endpoint_for("s3", {}) is None
