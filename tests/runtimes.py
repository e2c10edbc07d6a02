"""Fixtures of runtimes wired by bootstrap, on memory or on SQLite under tmp_path, for every
tier (a pytest plugin: `tests/conftest.py` loads it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from tests.support import Train, quick_config

from receipts.application.insight import Insight
from receipts.application.training.run_training import run_training
from receipts.bootstrap import Runtime, bootstrap
from receipts.bootstrap.training import simulated_backend
from receipts.domain.job import JobDraft, JobStatus
from receipts.settings import Settings


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture(params=["memory", "local"])
def any_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode=request.param, home=tmp_path, max_receive_count=3))
    yield runtime
    runtime.close()


@pytest.fixture
def train(any_runtime: Runtime) -> Train:
    """Creates a job and trains it to success with the simulated backend."""

    def train(name: str, tags: dict[str, str] | None = None) -> UUID:
        job_id = any_runtime.jobs.create_job(
            JobDraft(name=name, config=quick_config(), tags=tags or {})
        )
        status = run_training(any_runtime.jobs, job_id, simulated_backend(any_runtime))
        assert status is JobStatus.SUCCEEDED
        return job_id

    return train


@pytest.fixture
def insight(runtime: Runtime) -> Insight:
    return Insight(runtime.catalog())
