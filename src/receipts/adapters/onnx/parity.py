"""ONNX Runtime against torch fp32 on the same encoded inputs: random ids and boxes at
several lengths and batch sizes (a batch of 2 pads its second row, so masking is checked
too), and a padded batch of encoded validation receipts (what a trained model's arg-max
agreement means something on).

Per case: the largest absolute logit difference and the share of tokens whose arg-max tag
agrees, both over real (unpadded) tokens only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from transformers import LayoutLMForTokenClassification

from receipts.adapters.onnx.runtime import FloatArray, IntArray, run_logits
from receipts.adapters.torch.export_model import example_inputs
from receipts.application.ports.exporter import ExportFailed

LENGTHS = (8, 64, 200, 512)
BATCH_SIZES = (1, 2)
FP32_TOLERANCE = 1e-4


Inputs = tuple[IntArray, IntArray, IntArray]
"""int32 input_ids [B, T], bbox [B, T, 4], attention_mask [B, T]."""


@dataclass(frozen=True)
class ParityCase:
    length: int
    batch: int
    tokens: int
    """Real tokens compared (padding excluded)."""
    max_abs_diff: float
    argmax_agreement: float
    inputs: str = "random"
    """"random" ids and boxes, or "receipts" (encoded validation receipts)."""


@dataclass(frozen=True)
class ParityReport:
    cases: tuple[ParityCase, ...]

    @property
    def max_abs_diff(self) -> float:
        return max(case.max_abs_diff for case in self.cases)

    @property
    def argmax_agreement(self) -> float:
        """Over all compared tokens."""
        tokens = sum(case.tokens for case in self.cases)
        agreeing = sum(case.argmax_agreement * case.tokens for case in self.cases)
        return agreeing / tokens

    def as_dict(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "max_abs_diff": self.max_abs_diff,
            "argmax_agreement": round(self.argmax_agreement, 6),
        }
        receipts = [case for case in self.cases if case.inputs == "receipts"]
        if receipts:
            figures["receipts_argmax_agreement"] = round(
                ParityReport(tuple(receipts)).argmax_agreement, 6
            )
        return {**figures, "cases": [asdict(case) for case in self.cases]}


def parity_inputs(vocab_size: int, length: int, batch: int, seed: int = 0) -> Inputs:
    """Random ids and valid boxes; with batch > 1, row r > 0 has its last r·length/(batch+1)
    positions padded (at least one real token remains)."""
    input_ids, bbox, attention_mask = (
        tensor.numpy() for tensor in example_inputs(length, vocab_size, batch=batch, seed=seed)
    )
    for row in range(1, batch):
        real = max(1, length - row * length // (batch + 1))
        attention_mask[row, real:] = 0
        input_ids[row, real:] = 0
        bbox[row, real:] = 0
    return input_ids, bbox, attention_mask


def torch_logits(
    model: LayoutLMForTokenClassification,
    input_ids: IntArray,
    bbox: IntArray,
    attention_mask: IntArray,
) -> FloatArray:
    """The checkpoint's own forward in fp32 (int64 inputs, as in training)."""
    with torch.no_grad():
        output = model(
            input_ids=torch.from_numpy(input_ids).long(),
            bbox=torch.from_numpy(bbox).long(),
            attention_mask=torch.from_numpy(attention_mask).long(),
        )
    logits: FloatArray = output.logits.float().numpy()
    return logits


def compare(
    model: LayoutLMForTokenClassification,
    session: ort.InferenceSession,
    lengths: Sequence[int] = LENGTHS,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    seed: int = 0,
    receipts: Inputs | None = None,
) -> ParityReport:
    """Runs both on the same inputs (`model` in eval mode): random ones at every length
    and batch size (lengths past the model's positions are left out), then `receipts`."""
    limit = int(model.config.max_position_embeddings)
    usable = [length for length in lengths if 1 <= length <= limit]
    if not usable:
        raise ValueError(f"no parity length in {list(lengths)} fits 1..{limit} positions")
    cases = [
        compare_once(
            model, session, parity_inputs(model.config.vocab_size, length, batch, seed), "random"
        )
        for length in usable
        for batch in batch_sizes
    ]
    if receipts is not None:
        cases.append(compare_once(model, session, receipts, "receipts"))
    return ParityReport(tuple(cases))


def compare_once(
    model: LayoutLMForTokenClassification,
    session: ort.InferenceSession,
    inputs: Inputs,
    kind: str,
) -> ParityCase:
    expected = torch_logits(model, *inputs)
    actual = run_logits(session, *inputs)
    real = inputs[2].astype(bool)
    diff = np.abs(actual - expected)[real]
    agree = actual.argmax(axis=-1)[real] == expected.argmax(axis=-1)[real]
    batch, length = inputs[0].shape
    return ParityCase(
        length=length,
        batch=batch,
        tokens=int(real.sum()),
        max_abs_diff=float(diff.max()),
        argmax_agreement=float(agree.mean()),
        inputs=kind,
    )


def require_finite(report: ParityReport, what: str) -> None:
    """ExportFailed naming the first case whose logits hold a NaN or an infinity."""
    for case in report.cases:
        if not np.isfinite(case.max_abs_diff):
            raise ExportFailed(
                f"{what} logits are not finite at length {case.length}"
                f" (batch {case.batch}, {case.inputs} inputs)"
            )


def require_parity(report: ParityReport, tolerance: float, what: str) -> None:
    """ExportFailed naming the first case (length, batch) whose logits differ too much."""
    require_finite(report, what)
    for case in report.cases:
        if case.max_abs_diff > tolerance:
            raise ExportFailed(
                f"{what} logits differ from torch fp32 by {case.max_abs_diff:.3g} at length"
                f" {case.length} (batch {case.batch}, {case.inputs} inputs), above the"
                f" tolerance {tolerance:g}"
            )


def require_agreement(report: ParityReport, minimum: float, what: str) -> None:
    """ExportFailed when fewer than `minimum` of the tokens keep torch's arg-max tag."""
    if report.argmax_agreement < minimum:
        worst = min(report.cases, key=lambda case: case.argmax_agreement)
        raise ExportFailed(
            f"{what} agrees with torch fp32 on {report.argmax_agreement:.2%} of tokens,"
            f" below {minimum:.2%} (worst: {worst.argmax_agreement:.2%} at length"
            f" {worst.length}, batch {worst.batch})"
        )
