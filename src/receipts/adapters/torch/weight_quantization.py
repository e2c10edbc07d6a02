"""The weight quantization CoreML applies, simulated on a torch model (quantize, then
dequantize), so that its effect on accuracy can be measured on any OS.

It mirrors `coremltools.optimize.coreml.linear_quantize_weights` with mode
"linear_symmetric" (coremltools 9): every float weight of more than `weight_threshold`
elements is scaled by max|w| / L and rounded to the integers -L..L (L = 127 for int8,
7 for int4), one scale per output channel (a row of a Linear or Embedding weight) or,
per block, per row and block of `block_size` consecutive input channels. Scales are kept
in float16, as the float16 program stores them. Vectors (biases) are left alone: coremltools
gives each of their elements its own scale, which changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

WEIGHT_THRESHOLD = 2048
"""coremltools' default: smaller weights are not quantized."""


@dataclass(frozen=True)
class WeightQuantization:
    bits: int
    block_size: int | None = None
    """None: one scale per output channel; else per block of this many input channels."""
    weight_threshold: int = WEIGHT_THRESHOLD

    def __post_init__(self) -> None:
        if self.bits not in (4, 8):
            raise ValueError(f"weight quantization to {self.bits} bits: only 4 or 8")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError(f"block size {self.block_size}: must be positive")

    @property
    def levels(self) -> int:
        """Largest quantized magnitude: symmetric quantization drops -2^(bits-1)."""
        return int(2 ** (self.bits - 1)) - 1

    @property
    def granularity(self) -> str:
        return "per_channel" if self.block_size is None else "per_block"


INT8_PER_CHANNEL = WeightQuantization(bits=8)
INT4_BLOCK_SIZE = 64
"""LayoutLM-base (112.6M weights) takes 56.9 MiB with blocks of 64, 60.2 MiB with 32."""
INT4_PER_BLOCK = WeightQuantization(bits=4, block_size=INT4_BLOCK_SIZE)


@dataclass(frozen=True)
class QuantizationSummary:
    quantized: list[str]
    skipped: list[str]
    """Matrices left in float because a block does not divide their rows."""
    max_abs_error: float
    """Largest |w - dequantized w| over every quantized weight."""


def fake_quantize(weight: torch.Tensor, scheme: WeightQuantization) -> torch.Tensor | None:
    """`weight` (2-D: out x in) quantized and dequantized; None when its input channels
    do not divide into blocks (coremltools then leaves it unquantized too)."""
    if weight.dim() != 2:
        raise ValueError(f"expected a 2-D weight, got shape {tuple(weight.shape)}")
    rows, columns = weight.shape
    block = columns if scheme.block_size is None else scheme.block_size
    if columns % block:
        return None
    # in float16 step by step, as coremltools computes on the float16 program's weights
    values = weight.detach().to(torch.float16).reshape(rows, -1, block)
    max_abs = values.abs().amax(dim=-1, keepdim=True)
    scale = (max_abs * 2) / (scheme.levels * 2)
    safe_scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    quantized = torch.clamp(torch.round(values / safe_scale), -scheme.levels, scheme.levels)
    restored = torch.where(scale > 0, quantized.float() * scale.float(), torch.zeros(values.shape))
    return restored.reshape(rows, columns).to(weight.dtype)


def quantize_weights(
    model: torch.nn.Module, scheme: WeightQuantization
) -> tuple[torch.nn.Module, QuantizationSummary]:
    """A copy of `model` whose Linear and Embedding weights hold what the quantized
    program computes with; `model` itself is unchanged."""
    copied = copy.deepcopy(model)
    quantized, skipped, worst = [], [], 0.0
    with torch.no_grad():
        for name, module in copied.named_modules():
            if not isinstance(module, torch.nn.Linear | torch.nn.Embedding):
                continue
            weight = module.weight
            if weight.numel() <= scheme.weight_threshold:
                continue
            restored = fake_quantize(weight, scheme)
            if restored is None:
                skipped.append(name)
                continue
            worst = max(worst, float((restored - weight).abs().max()))
            weight.copy_(restored)
            quantized.append(name)
    return copied, QuantizationSummary(quantized, skipped, worst)
