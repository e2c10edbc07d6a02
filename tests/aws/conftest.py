"""Fixtures of the Lambda tests: the resources of one module on the moto server, and the
environment a Lambda container gets (its cached Runtime reset around each test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.aws.lambda_support import create_resources

from receipts.entrypoints.lambdas.runtime import reset_runtime


@pytest.fixture(scope="module")
def created(moto_endpoint: str) -> dict[str, str]:
    return create_resources(moto_endpoint)


@pytest.fixture
def lambda_env(
    aws_env: dict[str, str], created: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    for key, value in created.items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    yield created
    reset_runtime()
