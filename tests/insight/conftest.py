"""Runtimes for the insight tests: memory (fast) and the embedded default (SQLite files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receipts.application.insight import Insight
from receipts.bootstrap import Runtime, bootstrap
from receipts.settings import Settings


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings(mode="memory", home=tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def insight(runtime: Runtime) -> Insight:
    return Insight(runtime.catalog())
