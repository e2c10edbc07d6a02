"""torch → ONNX: a LayoutLM token classifier as a graph with dynamic batch and length.

The graph is the shared traceable wrapper (`adapters/torch/export_model.py`: int32
`input_ids`, `bbox` [B, T, 4] and `attention_mask` in; float32 `logits` and
`probabilities` out; a float16-safe attention mask). The legacy TorchScript exporter
(`dynamo=False`) converts it. The dynamo exporter (tried with onnxscript 0.7.2, which is
not installed) gave the same parity and half the nodes, but base ran 6 % slower on ONNX
Runtime, fp32 and int8 alike, and exported 1.5x slower: not worth two more packages.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from transformers import LayoutLMForTokenClassification

from receipts.adapters.torch.export_model import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    ExportableTokenClassifier,
    example_inputs,
)

OPSET = 17
DYNAMIC_AXES: dict[str, dict[int, str]] = {
    name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)
}


def export_graph(model: LayoutLMForTokenClassification, path: Path) -> None:
    """Writes the fp32 graph (opset 17, dynamic batch and sequence axes) to `path`."""
    model.float()  # type: ignore[no-untyped-call]
    graph = ExportableTokenClassifier(model).eval()
    # batch 2 with padding, so nothing in the trace is specialised to one row or no mask
    inputs = example_inputs(8, model.config.vocab_size, batch=2, padding=3)
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns about Python control flow in transformers that does not
        # depend on the traced shapes
        # torch.jit.TracerWarning is public (torch documents it) but not in __all__
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        # "legacy TorchScript-based ONNX export": chosen, see the module docstring
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            graph,
            inputs,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=DYNAMIC_AXES,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
