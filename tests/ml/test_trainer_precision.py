"""Which autocast dtype the trainer uses on each device and mixed-precision setting."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from receipts.adapters.torch.trainer import LayoutLMTrainer  # noqa: E402


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("no", None), ("auto", None), ("fp16", None), ("bf16", torch.bfloat16)],
)
def test_on_a_cpu_only_an_explicit_bf16_autocasts(
    tmp_path: Path, mode: str, expected: object
) -> None:
    trainer = LayoutLMTrainer(lambda spec, reporter: None, tmp_path, device="cpu")  # type: ignore[arg-type, return-value]
    assert trainer._autocast_dtype(mode) is expected
