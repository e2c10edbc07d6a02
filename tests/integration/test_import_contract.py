"""The domain and application layers import no infrastructure, also at run time.

import-linter checks the static import graph (`lint-imports`, run below too); this imports
every module of both layers in a fresh interpreter and looks at what actually got loaded,
which also catches imports hidden behind `importlib` or pulled in transitively.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LAYERS = ("receipts.domain", "receipts.application")
HEAVY = ("torch", "boto3", "botocore", "aioboto3", "aiobotocore", "transformers", "coremltools")

PROBE = """
import importlib, json, pkgutil, sys
imported = []
for layer in {layers!r}:
    package = importlib.import_module(layer)
    imported.append(layer)
    for info in pkgutil.walk_packages(package.__path__, layer + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
loaded = sorted(
    name for name in sys.modules if name.split(".")[0] in {heavy!r}
)
print(json.dumps({{"imported": imported, "loaded": loaded}}))
"""


def _probe() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(layers=LAYERS, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, list[str]] = json.loads(result.stdout)
    return report


def test_domain_and_application_load_no_infrastructure_libraries() -> None:
    report = _probe()

    assert report["loaded"] == [], f"infrastructure libraries loaded: {report['loaded']}"
    # the walk really covered the layers (a broken walk would pass vacuously)
    imported = set(report["imported"])
    for module in (
        "receipts.domain.job",
        "receipts.domain.job_metric",
        "receipts.application.training.jobs",
        "receipts.application.export.exports",
        "receipts.application.event_sourcing.persistence",
        "receipts.application.ports.queue",
    ):
        assert module in imported


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.skip(f"import-linter is not installed next to {sys.executable}")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(lint_imports)], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout
