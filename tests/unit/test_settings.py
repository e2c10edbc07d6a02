"""Settings from the environment: `RECEIPTS_*`, the seeds' variable names, each bad one named."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest

from receipts.settings import InvalidSettings, Settings

SEED_VARIABLES = (
    "DYNAMO_TABLE_NAME",
    "OCR_JOB_QUEUE_URL",
    "OCR_RESULTS_QUEUE_URL",
    "COREML_EXPORT_JOB_QUEUE_URL",
    "COREML_EXPORT_RESULTS_QUEUE_URL",
    "LAYOUTLM_TRAINING_BUCKET",
    "MODEL_S3_URI",
    "S3_CACHE_BUCKET",
)

Read = Callable[[dict[str, str]], Settings]


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> Read:
    """`Settings.from_env()` in an environment whose settings are `variables` only."""

    def read(variables: dict[str, str]) -> Settings:
        for key in list(os.environ):
            if key.startswith("RECEIPTS_") or key in SEED_VARIABLES:
                monkeypatch.delenv(key)
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        return Settings.from_env()

    return read


def test_unset_everything_has_its_default(read: Read) -> None:
    assert read({}) == Settings.model_construct()


def test_seed_variables_configure_aws_names(read: Read) -> None:
    settings = read(
        {
            "RECEIPTS_MODE": "aws",
            "DYNAMO_TABLE_NAME": "ReceiptsTable",
            "COREML_EXPORT_JOB_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/export-jobs",
            "COREML_EXPORT_RESULTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/results",
            "OCR_JOB_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/ocr",
            "OCR_RESULTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/ocr-results",
            "LAYOUTLM_TRAINING_BUCKET": "training-bucket",
            "MODEL_S3_URI": "s3://models/best/",
            "S3_CACHE_BUCKET": "cache-bucket",
        }
    )

    assert settings.mode == "aws"
    assert settings.table == "ReceiptsTable"
    assert settings.export_queue.endswith("/export-jobs")
    assert settings.export_results_queue.endswith("/results")
    assert settings.ocr_queue.endswith("/ocr")
    assert settings.ocr_results_queue.endswith("/ocr-results")
    assert settings.bucket == "training-bucket"
    assert settings.inference_model == "s3://models/best/"
    assert settings.inference_cache_bucket == "cache-bucket"


def test_receipts_variables_win_over_seed_variables(read: Read) -> None:
    settings = read(
        {
            "DYNAMO_TABLE_NAME": "seed",
            "RECEIPTS_TABLE": "ours",
            "OCR_JOB_QUEUE_URL": "seed-ocr",
            "RECEIPTS_OCR_QUEUE": "our-ocr",
        }
    )

    assert (settings.table, settings.ocr_queue) == ("ours", "our-ocr")


def test_an_empty_variable_is_unset_and_values_are_stripped(read: Read) -> None:
    settings = read(
        {
            "RECEIPTS_TABLE": "",
            "DYNAMO_TABLE_NAME": "seed",
            "RECEIPTS_MODEL_CACHE": "",
            "MODEL_S3_URI": " s3://models/best/ ",
        }
    )

    assert settings.table == "seed"
    assert settings.model_cache is None
    assert settings.inference_model == "s3://models/best/"


def test_the_sagemaker_containers_settings(read: Read, tmp_path: Path) -> None:
    job_id = uuid4()
    settings = read(
        {
            "RECEIPTS_JOB_ID": str(job_id),
            "RECEIPTS_JOB_NAME": "layoutlm-x",
            "RECEIPTS_RUNS_PREFIX": "s3://bucket/runs/",
            "RECEIPTS_SAGEMAKER_ROOT": str(tmp_path),
            "RECEIPTS_SAGEMAKER_PROCESSES_PER_HOST": "2",
            "RECEIPTS_SAGEMAKER_KEEP_CHECKPOINTS": "3",
        }
    )

    assert (settings.job_id, settings.job_name) == (job_id, "layoutlm-x")
    assert settings.runs_prefix == "s3://bucket/runs/"
    assert settings.sagemaker_root == tmp_path
    assert settings.sagemaker_processes_per_host == 2
    assert settings.sagemaker_keep_checkpoints == 3


def test_every_bad_variable_is_named(read: Read) -> None:
    with pytest.raises(InvalidSettings) as bad:
        read(
            {
                "RECEIPTS_CREATE_RESOURCES": "perhaps",
                "RECEIPTS_MODE": "cloud",
                "RECEIPTS_JOB_ID": "job-1",
                "RECEIPTS_SAGEMAKER_PROCESSES_PER_HOST": "0",
            }
        )

    message = str(bad.value)
    assert message.startswith("invalid settings: ")
    assert "RECEIPTS_CREATE_RESOURCES: Input should be a valid boolean" in message
    assert "RECEIPTS_MODE: Input should be 'memory', 'local' or 'aws'" in message
    assert "RECEIPTS_JOB_ID: Input should be a valid UUID" in message
    assert "RECEIPTS_SAGEMAKER_PROCESSES_PER_HOST: Input should be greater than or equal to 1" in (
        message
    )
