"""Weight quantization of an fp32 ONNX graph for ONNX Runtime, one function per mode.

- float16: every weight and activation in fp16 (`onnxruntime.transformers.float16`), the
  graph's inputs and outputs left as they were (int32 in, float32 logits out).
- int8: dynamic quantization (`quantize_dynamic`), per-channel int8 weights of every MatMul
  and of the embedding tables; activations are quantized at run time.
- int4: the MatMul weights become com.microsoft `MatMulNBits` (4 bits, symmetric, blocks of
  32 along K, fp32 scale per block); the embedding tables then int8 as above. ONNX
  Runtime's own `MatMulNBitsQuantizer` needs the `onnx_ir` package, which is not installed,
  so the blocks are packed here with numpy in the layout the operator documents.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.float16 import convert_float_to_float16

from receipts.domain.quantization import Quantization

INT4_BLOCK_SIZE = 32
MS_DOMAIN = "com.microsoft"


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


def to_int4(source: Path, target: Path, block_size: int = INT4_BLOCK_SIZE) -> None:
    model = onnx.load(str(source))
    replaced = matmuls_to_int4(model, block_size)
    if replaced == 0:
        raise ValueError(f"{source}: no MatMul with a constant 2-D weight to quantize to int4")
    staged = target.with_name(target.name + ".int4-matmuls.onnx")
    onnx.save(model, str(staged))
    try:
        to_int8(staged, target, op_types=("Gather",))
    finally:
        staged.unlink(missing_ok=True)


def matmuls_to_int4(model: onnx.ModelProto, block_size: int = INT4_BLOCK_SIZE) -> int:
    """Replaces, in place, each MatMul whose second input is a float32 2-D initializer by a
    4-bit MatMulNBits; returns how many were replaced."""
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, not {block_size}")
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    nodes: list[onnx.NodeProto] = []
    replaced = 0
    for node in graph.node:
        weight = initializers.get(node.input[1]) if node.op_type == "MatMul" else None
        if (
            weight is None
            or weight.data_type != onnx.TensorProto.FLOAT
            or len(weight.dims) != 2
            or uses[weight.name] != 1
        ):
            nodes.append(node)
            continue
        packed, scales = pack_int4(numpy_helper.to_array(weight), block_size)
        k, n = weight.dims
        graph.initializer.remove(weight)
        graph.initializer.extend(
            [
                numpy_helper.from_array(packed, f"{weight.name}_Q4"),
                numpy_helper.from_array(scales, f"{weight.name}_scales"),
            ]
        )
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], f"{weight.name}_Q4", f"{weight.name}_scales"],
                list(node.output),
                name=f"{node.name or weight.name}_Q4",
                domain=MS_DOMAIN,
                K=k,
                N=n,
                bits=4,
                block_size=block_size,
            )
        )
        replaced += 1
    del graph.node[:]
    graph.node.extend(nodes)
    if replaced and not any(op.domain == MS_DOMAIN for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return replaced


def pack_int4(
    weight: npt.NDArray[np.float32], block_size: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """A [K, N] weight → (B [N, blocks, block_size/2] uint8, scales [N, blocks] float32).

    Each block of `block_size` values along K is stored as 4-bit codes q = round(w/s) + 8
    (s = max|w|/7, so q is in 1..15 and the default zero point 8 decodes w ≈ (q-8)·s), two
    codes a byte, the first in the low nibble. K is padded with zeros to whole blocks.
    """
    k, n = weight.shape
    blocks = -(-k // block_size)
    padded = np.zeros((blocks * block_size, n), dtype=np.float32)
    padded[:k] = weight
    per_block = padded.T.reshape(n, blocks, block_size)
    scales = np.abs(per_block).max(axis=2) / 7.0
    safe = np.where(scales == 0, 1.0, scales)
    codes = np.clip(np.rint(per_block / safe[:, :, None]), -7, 7).astype(np.int16) + 8
    packed = (codes[:, :, 0::2] | (codes[:, :, 1::2] << 4)).astype(np.uint8)
    return packed, scales.astype(np.float32)


def unpack_int4(
    packed: npt.NDArray[np.uint8], scales: npt.NDArray[np.float32], k: int
) -> npt.NDArray[np.float32]:
    """The [K, N] weight that MatMulNBits computes with (the inverse of `pack_int4`)."""
    n, blocks, half = packed.shape
    codes = np.empty((n, blocks, half * 2), dtype=np.int16)
    codes[:, :, 0::2] = packed & 0x0F
    codes[:, :, 1::2] = packed >> 4
    values = (codes - 8).astype(np.float32) * scales[:, :, None]
    return values.reshape(n, blocks * half * 2)[:, :k].T.copy()


class _Quiet:
    """Silences a logger for a block (quantize_dynamic logs advice on every call)."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self.level = self.logger.level

    def __enter__(self) -> None:
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *_: object) -> None:
        self.logger.setLevel(self.level)
