"""CoreML outputs against torch, for the same inputs: macOS only (CoreML predicts there)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from receipts.adapters.coreml.library import ct, notices_logged
from receipts.adapters.torch.export_model import INPUT_NAMES
from receipts.adapters.torch.float16_safety import Probe

SKIPPED = "skipped: CoreML runs predictions on macOS only"


def compare_with_torch(
    package: Path, reference: torch.nn.Module, probes: list[Probe]
) -> dict[str, Any]:
    """Largest |logit difference| and argmax agreement of the saved package against the
    float32 torch model, one unpadded sequence at a time (the package takes batch 1)."""
    if platform.system() != "Darwin":
        return {"coreml_comparison": SKIPPED}
    with notices_logged("loading the package"):
        model = ct.models.MLModel(str(package))
    difference, agree, positions = 0.0, 0, 0
    with torch.inference_mode():
        for input_ids, bbox, mask in probes:
            for row in range(input_ids.shape[0]):
                length = int(mask[row].sum())
                inputs = [tensor[row : row + 1, :length] for tensor in (input_ids, bbox, mask)]
                expected = reference(*inputs)[0].float().numpy()
                feeds = {
                    name: tensor.numpy().astype(np.int32)
                    for name, tensor in zip(INPUT_NAMES, inputs, strict=True)
                }
                actual = model.predict(feeds)["logits"]
                difference = max(difference, float(np.abs(expected - actual).max()))
                agree += int((expected.argmax(-1) == actual.argmax(-1)).sum())
                positions += length
    return {
        "coreml_comparison": "compared",
        "coreml_max_abs_logit_diff": difference,
        "coreml_argmax_agreement": agree / positions if positions else 1.0,
    }
