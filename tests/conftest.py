"""Shared fixtures and the test tiers.

Tiers: a test's tier is the folder under `tests/` it lives in (`unit`, `integration`,
`contracts`, `aws`, `ml`, `e2e`, `browser`), applied as a marker at collection; a test that
uses the moto server (`moto_endpoint`) is also marked `aws`, one that uses the tiny trained
model (`tiny_model`) also `ml`. `make check` runs the fast tiers, `make test` all of them.
With RECEIPTS_REQUIRE_TIERS set (`.ci/run` sets it), a run fails when one of the named
tiers was skipped wholesale, naming why (a missing extra or system package).

`moto_endpoint` starts a real moto server on 127.0.0.1 (a free port) once per test process,
only when a test asks for it; `aws_env` points boto3 and aioboto3 at it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from filelock import FileLock

# xdist workers inherit COLUMNS=80 and rich fixes a console's width from it when the console
# is created (the CLI's are, at import): every test renders at one width, wide enough for
# the tables the tests read.
os.environ["COLUMNS"] = "200"

pytest_plugins = ["tests.runtimes"]

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "contracts", "aws", "ml", "e2e", "browser")
FIXTURE_TIERS = {"moto_endpoint": "aws", "tiny_model": "ml"}
"""A test that uses one of these fixtures (directly or through another) is also in that tier."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0]
        tiers = {folder} if folder in TIERS else set()
        tiers |= {tier for name, tier in FIXTURE_TIERS.items() if name in item.fixturenames}
        for tier in sorted(tiers):
            item.add_marker(tier)


class TierGuard:
    """Counts, per required tier, the tests that ran and the reasons of those skipped; at the
    end fails the session when a required tier ran nothing (reports come from every xdist
    worker to the controller, markers included in their keywords)."""

    def __init__(self, required: list[str]) -> None:
        self.required = required
        self.ran: Counter[str] = Counter()
        self.skipped: dict[str, Counter[str]] = {tier: Counter() for tier in required}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for tier in self.required:
            if tier not in report.keywords:
                continue
            if report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
                self.skipped[tier][str(reason).removeprefix("Skipped: ")] += 1
            elif report.when == "call":
                self.ran[tier] += 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A module skipped whole at import (`pytest.importorskip` of torch, say)."""
        parts = report.nodeid.split("/")
        if report.skipped and len(parts) > 2 and parts[1] in self.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            self.skipped[parts[1]][str(reason).removeprefix("Skipped: ")] += 1

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        missing = [tier for tier in self.required if self.ran[tier] == 0]
        if not missing or session.exitstatus not in (0, 5):
            return
        lines = [f"RECEIPTS_REQUIRE_TIERS: no test of the {', '.join(missing)} tier(s) ran."]
        for tier in missing:
            reasons = self.skipped[tier].most_common(3)
            why = "; ".join(f"{reason} ({n})" for reason, n in reasons) or "none collected"
            lines.append(f"  {tier}: {why}")
        lines.append("  install what is named (scripts/setup.sh does, as root) and run again.")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    required = [t for t in os.environ.get("RECEIPTS_REQUIRE_TIERS", "").split(",") if t]
    unknown = sorted(set(required) - set(TIERS))
    if unknown:
        raise pytest.UsageError(f"RECEIPTS_REQUIRE_TIERS: unknown tier(s) {unknown}")
    if required and not hasattr(config, "workerinput"):  # the xdist controller, or no xdist
        config.pluginmanager.register(TierGuard(required), "receipts-tier-guard")


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


def code_hash() -> str:
    """A hash of the source and of tests/trained_model.py: what a cached model depends on."""
    digest = hashlib.sha256()
    for path in sorted([*(TESTS.parent / "src").rglob("*.py"), TESTS / "trained_model.py"]):
        digest.update(path.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LayoutLM trained on synthetic receipts (tests/trained_model.py): its `best/`
    checkpoint directory. Built once and kept in pytest's cache folder, keyed by the hash of
    the code that builds it, so xdist workers and later runs share it; tests only read it."""
    pytest.importorskip("torch")
    from tests.trained_model import train_tiny_model

    cache_provider = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    if cache_provider is None:
        cache = tmp_path_factory.mktemp("tiny-model")
    else:
        cache = cache_provider.mkdir("tiny-model")
    built = cache / code_hash()
    with FileLock(cache / "build.lock"):
        if not built.is_dir():
            scratch = cache / f"building-{uuid4().hex[:8]}"
            best = train_tiny_model(scratch)
            (scratch / "best.txt").write_text(best.relative_to(scratch).as_posix())
            for stale in cache.iterdir():
                if stale.is_dir() and stale != scratch:
                    shutil.rmtree(stale, ignore_errors=True)
            scratch.rename(built)  # whole or absent: an interrupted build is never used
    return built / (built / "best.txt").read_text()


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
