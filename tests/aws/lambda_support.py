"""Builders shared by the Lambda tests: the functions' environment and the events they get."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from tests.conftest import AWS_TEST_ENV

from receipts.bootstrap import bootstrap
from receipts.settings import Settings


def aws_settings(name: str) -> dict[str, str]:
    """The environment the template gives every function (resource names from `name`)."""
    return {
        "RECEIPTS_MODE": "aws",
        "RECEIPTS_EVENTS_TABLE": f"{name}-events",
        "DYNAMO_TABLE_NAME": f"{name}-table",
        "LAYOUTLM_TRAINING_BUCKET": f"{name}-bucket",
        "COREML_EXPORT_JOB_QUEUE_URL": f"{name}-export",
        "COREML_EXPORT_RESULTS_QUEUE_URL": f"{name}-export-results",
        "RECEIPTS_OCR_QUEUE": f"{name}-ocr",
        "RECEIPTS_OCR_RESULTS_QUEUE": f"{name}-ocr-results",
    }


def create_resources(moto_endpoint: str) -> dict[str, str]:
    """Creates a fresh set of tables, queues (with DLQs) and bucket; returns their environment."""
    env = aws_settings(f"t-{uuid4().hex[:12]}")
    with pytest.MonkeyPatch.context() as patch:
        variables = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_endpoint, **env}
        for key, value in {**variables, "RECEIPTS_CREATE_RESOURCES": "true"}.items():
            patch.setenv(key, value)
        bootstrap(Settings.from_env()).close()
    return env


def state_change(name: str, status: str, **detail: Any) -> dict[str, Any]:
    """An EventBridge event as SageMaker sends it (the fields the handler reads, and more)."""
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    return {
        "version": "0",
        "id": str(uuid4()),
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "TrainingJobName": name,
            "TrainingJobArn": arn,
            "TrainingJobStatus": status,
            "SecondaryStatus": status,
            **detail,
        },
    }


def completed(name: str, model_uri: str, **detail: Any) -> dict[str, Any]:
    return state_change(name, "Completed", ModelArtifacts={"S3ModelArtifacts": model_uri}, **detail)


def sqs_event(*bodies: str, group: str | None = None) -> dict[str, Any]:
    """An SQS event source batch of `bodies` (message ids m0, m1, ...)."""
    records = []
    for index, body in enumerate(bodies):
        attributes = {"ApproximateReceiveCount": "1"}
        if group is not None:
            attributes["MessageGroupId"] = group
        records.append(
            {
                "messageId": f"m{index}",
                "receiptHandle": f"h{index}",
                "body": body,
                "attributes": attributes,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            }
        )
    return {"Records": records}
