"""A few held-out receipts for the report tests (the tiny model is tests/conftest.py's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from receipts.adapters.jsonl.label_store import to_record
from receipts.adapters.synthetic.generator import generate_receipts

HELD_OUT_SEED = 12


@pytest.fixture(scope="session")
def held_out_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four synthetic receipts the tiny model never saw, as JSONL."""
    path = tmp_path_factory.mktemp("held-out") / "receipts.jsonl"
    path.write_text(
        "".join(json.dumps(to_record(r)) + "\n" for r in generate_receipts(4, HELD_OUT_SEED))
    )
    return path
