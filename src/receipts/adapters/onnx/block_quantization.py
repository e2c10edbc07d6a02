"""Weight-only block quantization (8 or 4 bits) for ONNX Runtime, packed with numpy in
the layout its com.microsoft operators document (ONNX Runtime's own `MatMulNBitsQuantizer`
needs the `onnx_ir` package, which is not installed).

- MatMul with a constant [K, N] weight → `MatMulNBits`: blocks of `block_size` values
  along K, one fp32 scale per block, symmetric codes around the operator's default zero
  point (8 for 4 bits, 128 for 8 bits). Activations stay float32.
- Gather from a constant [rows, width] table (the embeddings) → `GatherBlockQuantized`
  with the same codes, blocks along the width.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

BLOCK_SIZE = 32
MS_DOMAIN = "com.microsoft"
BITS = (4, 8)


def pack_blocks(
    weight: npt.NDArray[np.float32], block_size: int, bits: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """A [K, N] weight → (B [N, blocks, block_size·bits/8] uint8, scales [N, blocks] fp32).

    Each block of `block_size` values along K is stored as codes q = round(w/s) + z, with
    z = 2^(bits-1) and s = max|w| / (z-1), so q stays in 1..2z-1 and decodes as
    w ≈ (q - z)·s. Four-bit codes go two a byte, the first in the low nibble. K is padded
    with zeros to whole blocks.
    """
    _check(block_size, bits)
    k, n = weight.shape
    blocks = -(-k // block_size)
    padded = np.zeros((blocks * block_size, n), dtype=np.float32)
    padded[:k] = weight
    per_block = padded.T.reshape(n, blocks, block_size)
    zero = 1 << (bits - 1)
    scales = np.abs(per_block).max(axis=2) / (zero - 1)
    safe = np.where(scales == 0, 1.0, scales)
    codes = np.clip(np.rint(per_block / safe[:, :, None]), 1 - zero, zero - 1).astype(np.int16)
    codes += zero
    if bits == 4:
        codes = codes[:, :, 0::2] | (codes[:, :, 1::2] << 4)
    return codes.astype(np.uint8), scales.astype(np.float32)


def unpack_blocks(
    packed: npt.NDArray[np.uint8], scales: npt.NDArray[np.float32], k: int, bits: int
) -> npt.NDArray[np.float32]:
    """The [K, N] weight that the operators compute with (the inverse of `pack_blocks`)."""
    if bits == 4:
        n, blocks, half = packed.shape
        codes = np.empty((n, blocks, half * 2), dtype=np.int16)
        codes[:, :, 0::2] = packed & 0x0F
        codes[:, :, 1::2] = packed >> 4
    else:
        codes = packed.astype(np.int16)
    n, blocks, block_size = codes.shape
    values = (codes - (1 << (bits - 1))).astype(np.float32) * scales[:, :, None]
    return values.reshape(n, blocks * block_size)[:, :k].T.copy()


def matmuls_to_blocks(model: onnx.ModelProto, bits: int, block_size: int = BLOCK_SIZE) -> int:
    """Replaces, in place, each MatMul whose second input is a float32 2-D initializer
    used by that MatMul alone with a MatMulNBits; returns how many were replaced."""
    _check(block_size, bits)
    graph = model.graph
    constants = _float_tables(graph)
    consumers = _consumers(graph.node)
    replaced = 0
    for node in graph.node:
        weight = constants.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(consumers[weight.name]) != 1:
            continue
        packed, scales = pack_blocks(numpy_helper.to_array(weight), block_size, bits)
        k, n = weight.dims
        codes, scale_name = _swap_initializer(graph, weight, packed, scales, bits)
        _quantized_op(
            node,
            "MatMulNBits",
            [node.input[0], codes, scale_name],
            bits,
            K=k,
            N=n,
            block_size=block_size,
        )
        replaced += 1
    _import_ms_domain(model, replaced)
    return replaced


def embeddings_to_blocks(
    model: onnx.ModelProto, bits: int, block_size: int = BLOCK_SIZE, min_rows: int = 1
) -> int:
    """Replaces, in place, the Gathers (axis 0) from a float32 2-D initializer of at least
    `min_rows` rows whose width is whole blocks, and which only such Gathers read, with
    GatherBlockQuantized; returns how many tables were quantized."""
    _check(block_size, bits)
    graph = model.graph
    constants = _float_tables(graph)
    consumers = _consumers(graph.node)
    tables = 0
    for name, table in constants.items():
        readers = consumers.get(name, [])
        if (
            not readers
            or table.dims[0] < min_rows
            or table.dims[1] % block_size
            or not all(_gathers_rows_of(graph.node[i], name) for i in readers)
        ):
            continue
        rows, width = table.dims
        packed, scales = pack_blocks(numpy_helper.to_array(table).T.copy(), block_size, bits)
        flat = packed.reshape(rows, width * bits // 8)
        codes, scale_name = _swap_initializer(graph, table, flat, scales, bits)
        for node in (graph.node[i] for i in readers):
            _quantized_op(
                node,
                "GatherBlockQuantized",
                [codes, node.input[1], scale_name],
                bits,
                gather_axis=0,
                quantize_axis=1,
                block_size=block_size,
            )
        tables += 1
    _import_ms_domain(model, tables)
    return tables


def _check(block_size: int, bits: int) -> None:
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, not {bits}")
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, not {block_size}")


def _float_tables(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {
        init.name: init
        for init in graph.initializer
        if init.data_type == onnx.TensorProto.FLOAT and len(init.dims) == 2
    }


def _consumers(nodes: Iterable[onnx.NodeProto]) -> dict[str, list[int]]:
    """Input name → indices of the nodes that read it."""
    readers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in set(node.input):
            readers.setdefault(name, []).append(index)
    return readers


def _gathers_rows_of(node: onnx.NodeProto, table: str) -> bool:
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    return node.op_type == "Gather" and axis == 0 and list(node.input).index(table) == 0


def _swap_initializer(
    graph: onnx.GraphProto,
    old: onnx.TensorProto,
    packed: npt.NDArray[np.uint8],
    scales: npt.NDArray[np.float32],
    bits: int,
) -> tuple[str, str]:
    """Replaces `old` by its codes and scales; returns their names."""
    codes, scale_name = f"{old.name}_Q{bits}", f"{old.name}_scales"
    graph.initializer.remove(old)
    graph.initializer.extend(
        [numpy_helper.from_array(packed, codes), numpy_helper.from_array(scales, scale_name)]
    )
    return codes, scale_name


def _quantized_op(
    node: onnx.NodeProto, op_type: str, inputs: list[str], bits: int, **attributes: Any
) -> None:
    """Turns `node`, in place, into the com.microsoft `op_type` with the same outputs."""
    name = f"{node.name or node.output[0]}_Q{bits}"
    node.CopyFrom(
        helper.make_node(
            op_type, inputs, list(node.output), name=name, domain=MS_DOMAIN, bits=bits, **attributes
        )
    )


def _import_ms_domain(model: onnx.ModelProto, replaced: int) -> None:
    if replaced and not any(op.domain == MS_DOMAIN for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
