"""`receipts inference-report` as a user runs it: fresh processes on the embedded default
(local mode), the tiny trained model, four held-out synthetic receipts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.e2e.cli import Result, no_traceback
from tests.e2e.cli import run as run_cli

from receipts.application.inference.cache import LATEST_KEY, receipt_key
from receipts.application.inference.response import InferenceResponse


def run(home: Path, *args: str) -> Result:
    return run_cli(home, "inference-report", *args, OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def generated(home: Path, tiny_model: Path, held_out_dataset: Path) -> Result:
    """The cache generator by hand: a random receipt (seed 1) through the model."""
    output = home / "report"
    return run(home, "--model", str(tiny_model), "--dataset", str(held_out_dataset),
               "--seed", "1", "--output", str(output))  # fmt: skip


def test_a_random_receipt_is_reported_written_and_cached(generated: Result, home: Path) -> None:
    assert generated.returncode == 0, generated.said
    no_traceback(generated)
    [json_file] = (home / "report").glob("*.json")
    response = InferenceResponse.from_json(json_file.read_bytes())
    receipt_id = response.receipt_id
    assert re.match(r"synthetic-12-0000\d", receipt_id)
    assert (home / "report" / f"{receipt_id}.html").is_file()
    cached = home / "artifacts" / LATEST_KEY
    assert InferenceResponse.from_json(cached.read_bytes()) == response
    assert (home / "artifacts" / receipt_key(receipt_id)).is_file()
    said = generated.said
    assert f"word accuracy {response.metrics.overall_accuracy:.1%}" in said
    assert "model ran" in said and "MERCHANT_NAME" in said
    # the tiny model was trained with amounts merged: totals are compared as AMOUNT
    assert response.metrics.label_map.get("GRAND_TOTAL") == "AMOUNT"
    assert "GRAND_TOTAL → AMOUNT" in said
    assert response.metrics.overall_accuracy > 0.5
    html = (home / "report" / f"{receipt_id}.html").read_text()
    assert html.count('class="word') == len(response.original.words)
    assert len(re.findall(r'class="word \w+ mismatch"', html)) == len(response.incorrect())
    assert "data:image/png;base64," in html


def test_a_cached_receipt_is_served_without_a_model_and_printed_as_json(
    generated: Result, home: Path, held_out_dataset: Path
) -> None:
    receipt_id = InferenceResponse.from_json((home / "artifacts" / LATEST_KEY).read_bytes())
    result = run(home, "--dataset", str(held_out_dataset), "--receipt", receipt_id.receipt_id,
                 "--output", str(home / "again"), "--json")  # fmt: skip

    assert result.returncode == 0, result.said
    assert InferenceResponse.model_validate(result.json()) == receipt_id
    assert (home / "again" / f"{receipt_id.receipt_id}.json").is_file()


def test_unknown_receipts_and_missing_models_are_named(
    generated: Result, home: Path, held_out_dataset: Path
) -> None:
    unknown = run(home, "--dataset", str(held_out_dataset), "--receipt", "nope")
    uncached = run(home, "--dataset", str(held_out_dataset), "--receipt", "synthetic-12-00003",
                   "--refresh")  # fmt: skip
    usage = run(home, "--receipt", "x")

    assert unknown.returncode == 1 and "receipt not found: nope" in unknown.said
    assert uncached.returncode == 1 and "give --model" in uncached.said
    assert usage.returncode == 2 and "--dataset" in usage.said
    for result in (unknown, uncached, usage):
        no_traceback(result)
