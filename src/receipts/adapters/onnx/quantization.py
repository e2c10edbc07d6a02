"""Weight quantization of an fp32 ONNX graph for ONNX Runtime, one function per mode.

- float16: every weight and activation in fp16 (`onnxruntime.transformers.float16`), the
  graph's inputs and outputs left as they were (int32 in, float32 logits out).
- int8: dynamic quantization (`quantize_dynamic`), per-channel int8 weights of every MatMul
  and of the embedding tables; activations are quantized at run time.
- int4: the MatMul weights become com.microsoft `MatMulNBits` and the vocabulary table
  `GatherBlockQuantized` (4 bits, symmetric, blocks of 32, an fp32 scale per block; see
  `int4.py`); the small position, box and token-type tables int8 as above. Activations
  stay float32. (All tables at 4 bits cost arg-max agreement on a trained tiny model,
  0.98 → 0.93, where the vocabulary table alone costs nothing measurable.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.float16 import convert_float_to_float16

from receipts.adapters.onnx.int4 import BLOCK_SIZE, embeddings_to_int4, matmuls_to_int4
from receipts.domain.quantization import Quantization

VOCABULARY_ROWS = 8192
"""Tables with at least this many rows are vocabularies (BERT's has 30,522): int4 stores
them in 4 bits; smaller ones (positions, boxes, token types) stay int8."""


def quantize_graph(source: Path, target: Path, quantization: Quantization) -> None:
    """Writes `source` (an fp32 graph) quantized as `quantization` to `target`."""
    if quantization is Quantization.FLOAT16:
        to_float16(source, target)
    elif quantization is Quantization.INT8:
        to_int8(source, target)
    elif quantization is Quantization.INT4:
        to_int4(source, target)
    else:  # pragma: no cover - the enum has no other member
        raise ValueError(f"unknown quantization {quantization!r}")


def to_float16(source: Path, target: Path) -> None:
    model = onnx.load(str(source))
    converted = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(converted, str(target))


def to_int8(source: Path, target: Path, op_types: tuple[str, ...] = ("MatMul", "Gather")) -> None:
    with _Quiet("root"):
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=list(op_types),
            per_channel=True,
            weight_type=QuantType.QInt8,
        )


def to_int4(source: Path, target: Path, block_size: int = BLOCK_SIZE) -> None:
    model = onnx.load(str(source))
    if matmuls_to_int4(model, block_size) == 0:
        raise ValueError(f"{source}: no MatMul with a constant 2-D weight to quantize to int4")
    embeddings_to_int4(model, block_size, min_rows=VOCABULARY_ROWS)
    staged = target.with_name(target.name + ".int4.onnx")
    onnx.save(model, str(staged))
    try:
        to_int8(staged, target, op_types=("Gather",))
    finally:
        staged.unlink(missing_ok=True)


class _Quiet:
    """Silences a logger for a block (quantize_dynamic logs advice on every call)."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self.level = self.logger.level

    def __enter__(self) -> None:
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *_: object) -> None:
        self.logger.setLevel(self.level)
