"""Weight quantization of an fp32 ONNX graph for ONNX Runtime, one function per mode.

- float16: every weight and activation in fp16 (`onnxruntime.transformers.float16`), the
  graph's inputs and outputs left as they were (int32 in, float32 logits out).
- int8: ONNX Runtime's dynamic quantization: MatMul/Gemm weights int8 per output channel,
  activations uint8 per tensor at run time (`MatMulInteger`). It leaves the embedding
  tables float32 (its own per-tensor tables cost 0.5 point of agreement): they go to 8-bit
  blocks (`block_quantization.py`). On a trained MiniLM (held-out receipts, batch 1) 98.0 %
  of words keep fp32's label at about half its time; 8-bit weight-only blocks kept 99.6 %
  but ran slower than fp32.
- int4: weight-only; 4-bit MatMul weights and vocabulary table in blocks of 32, the small
  position, box and token-type tables 8-bit (4 bits there cost arg-max agreement on a
  trained tiny model, 0.98 → 0.93, where the vocabulary table alone costs nothing
  measurable).
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic
from onnxruntime.transformers.float16 import convert_float_to_float16

from receipts.adapters.onnx.block_quantization import embeddings_to_blocks, matmuls_to_blocks
from receipts.domain.quantization import Quantization

TABLE_BLOCK_SIZE = 128
"""Scales cost 4 bytes a block: 3 % over 8-bit codes at 128 (12.5 % at 32), for the same
arg-max agreement on a trained MiniLM (99.3 % either way)."""
INT4_BLOCK_SIZE = 32

VOCABULARY_ROWS = 8192
"""Tables with at least this many rows are vocabularies (BERT's has 30,522): int4 stores
them in 4 bits; smaller ones (positions, boxes, token types) stay 8-bit."""


def to_float16(source: Path, target: Path) -> None:
    model = onnx.load(str(source))
    converted = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(converted, str(target))


def to_int8(source: Path, target: Path) -> None:
    # the step quantize_dynamic asks for; its symbolic shape inference fails on this graph
    quant_pre_process(source, target, skip_symbolic_shape=True)
    quantize_dynamic(  # weights per tensor: 92 % of words kept fp32's label
        target, target, ["MatMul", "Gemm"], per_channel=True, weight_type=QuantType.QInt8
    )
    model = onnx.load(str(target))
    if not any(node.op_type == "MatMulInteger" for node in model.graph.node):
        raise ValueError(f"{source}: no MatMul with a constant weight to quantize")
    _tables_to_8_bits(model)
    onnx.save(model, str(target))


def to_int4(source: Path, target: Path, block_size: int = INT4_BLOCK_SIZE) -> None:
    model = onnx.load(str(source))
    if not matmuls_to_blocks(model, 4, block_size):
        raise ValueError(f"{source}: no MatMul with a constant 2-D weight to quantize")
    embeddings_to_blocks(model, 4, block_size, min_rows=VOCABULARY_ROWS)
    _tables_to_8_bits(model)
    onnx.save(model, str(target))


def _tables_to_8_bits(model: onnx.ModelProto) -> None:
    """Blocks of 128, or of 16 for tables whose width is not whole blocks of 128."""
    embeddings_to_blocks(model, 8, TABLE_BLOCK_SIZE)
    embeddings_to_blocks(model, 8, 16)


def quantize_graph(source: Path, target: Path, quantization: Quantization) -> None:
    """Writes `source` (an fp32 graph) quantized as `quantization` to `target`."""
    {
        Quantization.FLOAT16: to_float16,
        Quantization.INT8: to_int8,
        Quantization.INT4: to_int4,
    }[quantization](source, target)
