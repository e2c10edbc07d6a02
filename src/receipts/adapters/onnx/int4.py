"""4-bit weights for ONNX Runtime, packed with numpy in the layout its com.microsoft
operators document (ONNX Runtime's own `MatMulNBitsQuantizer` needs the `onnx_ir`
package, which is not installed).

- MatMul with a constant [K, N] weight → `MatMulNBits`: blocks of `block_size` values
  along K, one fp32 scale per block, symmetric codes around the default zero point 8.
- Gather from a constant [rows, width] table (the embeddings) → `GatherBlockQuantized`
  with the same codes, blocks along the width.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

BLOCK_SIZE = 32
MS_DOMAIN = "com.microsoft"


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
    """The [K, N] weight that the operators compute with (the inverse of `pack_int4`)."""
    n, blocks, half = packed.shape
    codes = np.empty((n, blocks, half * 2), dtype=np.int16)
    codes[:, :, 0::2] = packed & 0x0F
    codes[:, :, 1::2] = packed >> 4
    values = (codes - 8).astype(np.float32) * scales[:, :, None]
    return values.reshape(n, blocks * half * 2)[:, :k].T.copy()


def check_block_size(block_size: int) -> None:
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, not {block_size}")


def matmuls_to_int4(model: onnx.ModelProto, block_size: int = BLOCK_SIZE) -> int:
    """Replaces, in place, each MatMul whose second input is a float32 2-D initializer
    used by that MatMul alone with a 4-bit MatMulNBits; returns how many were replaced."""
    check_block_size(block_size)
    graph = model.graph
    constants = _float_tables(graph)
    consumers = _consumers(graph.node)
    replaced = 0
    for index, node in enumerate(graph.node):
        weight = constants.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(consumers[weight.name]) != 1:
            continue
        packed, scales = pack_int4(numpy_helper.to_array(weight), block_size)
        k, n = weight.dims
        _swap_initializer(graph, weight, packed, scales)
        graph.node[index].CopyFrom(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], f"{weight.name}_Q4", f"{weight.name}_scales"],
                list(node.output),
                name=f"{node.name or node.output[0]}_Q4",
                domain=MS_DOMAIN,
                K=k,
                N=n,
                bits=4,
                block_size=block_size,
            )
        )
        replaced += 1
    _import_ms_domain(model, replaced)
    return replaced


def embeddings_to_int4(
    model: onnx.ModelProto, block_size: int = BLOCK_SIZE, min_rows: int = 1
) -> int:
    """Replaces, in place, the Gathers (axis 0) from a float32 2-D initializer of at least
    `min_rows` rows whose width is whole blocks, and which only such Gathers read, with
    4-bit GatherBlockQuantized; returns how many tables were quantized."""
    check_block_size(block_size)
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
        packed, scales = pack_int4(numpy_helper.to_array(table).T.copy(), block_size)
        _swap_initializer(graph, table, packed.reshape(rows, width // 2), scales)
        for i in readers:
            node = graph.node[i]
            graph.node[i].CopyFrom(
                helper.make_node(
                    "GatherBlockQuantized",
                    [f"{name}_Q4", node.input[1], f"{name}_scales"],
                    list(node.output),
                    name=f"{node.name or node.output[0]}_Q4",
                    domain=MS_DOMAIN,
                    gather_axis=0,
                    quantize_axis=1,
                    block_size=block_size,
                    bits=4,
                )
            )
        tables += 1
    _import_ms_domain(model, tables)
    return tables


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
) -> None:
    graph.initializer.remove(old)
    graph.initializer.extend(
        [
            numpy_helper.from_array(packed, f"{old.name}_Q4"),
            numpy_helper.from_array(scales, f"{old.name}_scales"),
        ]
    )


def _import_ms_domain(model: onnx.ModelProto, replaced: int) -> None:
    if replaced and not any(op.domain == MS_DOMAIN for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
