"""torch → CoreML ML Program: trace, convert with float16 compute, quantize the weights.

coremltools runs on Linux for conversion only; loading a saved package there needs
`skip_model_load=True` (prediction is macOS only).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from receipts.adapters.coreml.library import (
    OpLinearQuantizerConfig,
    OptimizationConfig,
    ct,
    linear_quantize_weights,
    notices_logged,
)
from receipts.adapters.torch.export_model import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    ExportableTokenClassifier,
    example_inputs,
)
from receipts.adapters.torch.weight_quantization import (
    INT4_PER_BLOCK,
    INT8_PER_CHANNEL,
    WeightQuantization,
)
from receipts.application.ports.exporter import ExportFailed
from receipts.domain.quantization import Quantization

MODEL_FILE = "LayoutLM.mlpackage"
TRACE_LENGTH = 16
WEIGHT_SCHEMES: dict[Quantization, WeightQuantization] = {
    Quantization.INT8: INT8_PER_CHANNEL,
    Quantization.INT4: INT4_PER_BLOCK,
}


@dataclass(frozen=True)
class ConversionPlan:
    quantization: Quantization
    max_length: int
    labels: list[str]

    @property
    def deployment_target(self) -> Any:
        # 4-bit and per-block weights need the iOS 18 op set; the rest runs on iOS 16+
        return ct.target.iOS18 if self.quantization is Quantization.INT4 else ct.target.iOS16

    @property
    def weight_scheme(self) -> WeightQuantization | None:
        return WEIGHT_SCHEMES.get(self.quantization)


def trace(wrapper: ExportableTokenClassifier, vocab_size: int) -> torch.jit.ScriptModule:
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python ints in shapes
        traced = torch.jit.trace(  # type: ignore[no-untyped-call]
            wrapper, example_inputs(TRACE_LENGTH, vocab_size)
        )
    return cast(torch.jit.ScriptModule, traced)


def convert(
    wrapper: ExportableTokenClassifier, vocab_size: int, plan: ConversionPlan
) -> ct.models.MLModel:
    """The ML Program of `wrapper`: batch 1, sequence 1..max_length, int32 inputs,
    float32 `logits` and `probabilities` (computed in float16), weights quantized per plan."""
    if not 1 <= plan.max_length <= 512:
        raise ExportFailed(f"sequence length {plan.max_length}: must be within 1..512")
    traced = trace(wrapper, vocab_size)
    sequence = ct.RangeDim(lower_bound=1, upper_bound=plan.max_length, default=TRACE_LENGTH)
    shapes = {
        "input_ids": (1, sequence),
        "bbox": (1, sequence, 4),
        "attention_mask": (1, sequence),
    }
    try:
        with notices_logged("converting"):
            model = ct.convert(
                traced,
                convert_to="mlprogram",
                inputs=[
                    ct.TensorType(name=name, shape=ct.Shape(shapes[name]), dtype=np.int32)
                    for name in INPUT_NAMES
                ],
                outputs=[ct.TensorType(name=name, dtype=np.float32) for name in OUTPUT_NAMES],
                compute_precision=ct.precision.FLOAT16,
                minimum_deployment_target=plan.deployment_target,
                skip_model_load=True,
            )
    except Exception as error:  # coremltools raises bare ValueError/RuntimeError/...
        raise ExportFailed(f"coremltools could not convert the model: {error}") from error
    scheme = plan.weight_scheme
    if scheme is not None:
        model = quantize(model, scheme)
    model.short_description = "LayoutLM token classifier for receipts"
    model.user_defined_metadata["labels"] = ",".join(plan.labels)
    model.user_defined_metadata["quantization"] = plan.quantization.value
    model.user_defined_metadata["max_sequence_length"] = str(plan.max_length)
    return model


def quantize(model: ct.models.MLModel, scheme: WeightQuantization) -> ct.models.MLModel:
    config = OpLinearQuantizerConfig(
        mode="linear_symmetric",
        dtype=f"int{scheme.bits}",
        granularity=scheme.granularity,
        block_size=scheme.block_size or 32,
        weight_threshold=scheme.weight_threshold,
    )
    try:
        with notices_logged("quantizing"):
            return linear_quantize_weights(model, OptimizationConfig(global_config=config))
    except Exception as error:
        raise ExportFailed(f"coremltools could not quantize the weights: {error}") from error


def save(model: ct.models.MLModel, path: Path) -> None:
    with notices_logged("saving"):
        model.save(str(path))


def describe_package(path: Path) -> dict[str, Any]:
    """What a saved package declares (loaded without compiling, as Linux requires):
    inputs with their dtypes and shape ranges, outputs, spec version."""
    with notices_logged("reading the package"):
        spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()

    def dtype(feature: Any) -> str:
        code = feature.type.multiArrayType.dataType
        return _ARRAY_TYPES.get(code, str(code))

    return {
        "format": "mlprogram",
        "specification_version": int(spec.specificationVersion),
        "inputs": {
            feature.name: {
                "dtype": dtype(feature),
                "shape_range": [
                    [int(r.lowerBound), int(r.upperBound)]
                    for r in feature.type.multiArrayType.shapeRange.sizeRanges
                ],
            }
            for feature in spec.description.input
        },
        "outputs": {feature.name: dtype(feature) for feature in spec.description.output},
    }


_ARRAY_TYPES = {
    ct.proto.FeatureTypes_pb2.ArrayFeatureType.INT32: "int32",
    ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32: "float32",
    ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT16: "float16",
    ct.proto.FeatureTypes_pb2.ArrayFeatureType.DOUBLE: "float64",
}
