"""Whether a model survives float16 compute, checked in torch before any conversion.

Two passes over probe inputs: in float32, every submodule's output must stay finite and
below float16's largest value (65504); in float16 (a half-precision copy), the first
submodule whose output turns NaN or infinite is named. Either failure raises
ExportFailed naming the layer, instead of shipping a model that answers NaN on device.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from receipts.application.ports.exporter import ExportFailed

FLOAT16_MAX = 65504.0
Probe = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Float16Check:
    max_activation: float
    """Largest |output| of any submodule in float32."""
    max_activation_at: str
    max_abs_logit_difference: float
    """float16 vs float32 logits, over every unmasked position of every probe."""
    argmax_agreement: float
    """Share of unmasked positions whose float16 label equals the float32 one."""
    probes: int

    def figures(self) -> dict[str, float | str | int]:
        return {
            "fp16_check": "passed",
            "fp16_max_activation": round(self.max_activation, 3),
            "fp16_max_activation_at": self.max_activation_at,
            "fp16_headroom": round(FLOAT16_MAX / max(self.max_activation, 1e-12), 1),
            "fp16_max_abs_logit_diff": self.max_abs_logit_difference,
            "fp16_argmax_agreement": self.argmax_agreement,
            "fp16_probes": self.probes,
        }


class _Recorder:
    """Forward hooks that note each submodule's largest |output| and the first non-finite."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.largest: dict[str, float] = {}
        self.first_non_finite: str | None = None
        self._handles = [
            module.register_forward_hook(self._hook(name))
            for name, module in model.named_modules()
            # dropout is the identity at inference: its output is its input, seen already
            if name and not isinstance(module, torch.nn.Dropout)
        ]

    def _hook(self, name: str) -> object:
        def hook(_: torch.nn.Module, __: object, output: object) -> None:
            tensors = output if isinstance(output, tuple) else (output,)
            for tensor in tensors:
                if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
                    continue
                if not tensor.numel():
                    continue
                # one pass: the largest |x|, which is NaN or infinite when any element is
                value = float(torch.linalg.vector_norm(tensor, ord=math.inf))
                if not math.isfinite(value):
                    self.first_non_finite = self.first_non_finite or name
                    self.largest[name] = math.inf
                    continue
                self.largest[name] = max(self.largest.get(name, 0.0), value)

        return hook

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def outputs(model: torch.nn.Module, probes: Sequence[Probe]) -> list[torch.Tensor]:
    """The float logits `model` gives for each probe."""
    with torch.inference_mode():
        return [model(*probe)[0].float() for probe in probes]


def logit_difference(
    probes: Sequence[Probe], expected: list[torch.Tensor], actual: list[torch.Tensor]
) -> tuple[float, float]:
    """(largest |logit difference|, share of equal argmax labels) over unmasked positions."""
    difference, agree, positions = 0.0, 0, 0
    for probe, full, low in zip(probes, expected, actual, strict=True):
        kept = probe[2].bool()
        gaps = (full - low).abs()[kept]
        difference = max(difference, float(gaps.max()) if gaps.numel() else 0.0)
        agree += int((full.argmax(-1) == low.argmax(-1))[kept].sum())
        positions += int(kept.sum())
    return difference, agree / positions if positions else 1.0


def _recorded(
    model: torch.nn.Module, probes: Sequence[Probe]
) -> tuple[_Recorder, list[torch.Tensor]]:
    recorder = _Recorder(model)
    try:
        return recorder, outputs(model, probes)
    finally:
        recorder.close()


def check_float16(model: torch.nn.Module, probes: Sequence[Probe]) -> Float16Check:
    """`model` maps a probe to (logits, ...); it is left in float32 and unchanged."""
    if not probes:
        raise ValueError("the float16 check needs at least one probe input")
    recorder, reference = _recorded(model, probes)
    if recorder.first_non_finite is not None:
        raise ExportFailed(
            f"the float32 model already outputs NaN or infinity at {recorder.first_non_finite}"
        )
    # the first in execution order (dicts keep the hooks' firing order) is where it starts
    overflowing = [(name, v) for name, v in recorder.largest.items() if v >= FLOAT16_MAX]
    if overflowing:
        at, value = overflowing[0]
        raise ExportFailed(
            f"activations overflow float16 at {at}: |x| reaches {value:.0f} > {FLOAT16_MAX:.0f}"
        )
    at, largest = max(recorder.largest.items(), key=lambda item: item[1])
    half_recorder, halves = _recorded(copy.deepcopy(model).half(), probes)
    if half_recorder.first_non_finite is not None:
        raise ExportFailed(
            f"float16 compute turns NaN or infinite at {half_recorder.first_non_finite}"
        )
    difference, agreement = logit_difference(probes, reference, halves)
    return Float16Check(
        max_activation=largest,
        max_activation_at=at,
        max_abs_logit_difference=difference,
        argmax_agreement=agreement,
        probes=len(probes),
    )
