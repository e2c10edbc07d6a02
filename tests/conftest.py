"""Shared fixtures. `moto_endpoint` starts a real moto server on 127.0.0.1 (a free port) once
per test session, only when a test asks for it; `aws_env` points boto3 and aioboto3 at it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server_module = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment of a client of the moto server (never real AWS)."""
    env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_endpoint}
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL_") or key in {"AWS_PROFILE", "AWS_CONFIG_FILE"}:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def unique_name() -> str:
    """A resource name no other test uses on the shared moto server."""
    return f"t-{uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LayoutLM trained on synthetic receipts (tests/trained_model.py), once per
    session: its `best/` checkpoint directory."""
    pytest.importorskip("torch")
    from tests.trained_model import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def aws_mode_settings(unique_name: str, **overrides: object) -> Any:
    """Settings of an aws-mode runtime on the moto server whose tables, queues and bucket
    are named after `unique_name` and created on first use."""
    from receipts.settings import Settings

    fields: dict[str, object] = {
        "mode": "aws",
        "create_resources": True,
        "events_table": f"{unique_name}-events",
        "table": f"{unique_name}-table",
        "bucket": f"{unique_name}-bucket",
        "export_queue": f"{unique_name}-export",
        "export_results_queue": f"{unique_name}-export-results",
        "ocr_queue": f"{unique_name}-ocr",
        "ocr_results_queue": f"{unique_name}-ocr-results",
        "visibility_timeout": 30,
    }
    return Settings.model_validate({**fields, **overrides})
