"""8- and 4-bit weights packed with numpy: the layouts ONNX Runtime's MatMulNBits and
GatherBlockQuantized read, checked by running them; and the int8 mode, ONNX Runtime's
dynamic quantization with those 8-bit tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from receipts.adapters.onnx.block_quantization import (
    embeddings_to_blocks,
    matmuls_to_blocks,
    pack_blocks,
    unpack_blocks,
)
from receipts.adapters.onnx.quantization import to_int8

BITS = [4, 8]


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _session(model: onnx.ModelProto, path: Path) -> ort.InferenceSession:
    onnx.save(model, str(path))
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("bits", BITS)
def test_codes_round_to_within_half_a_step_of_each_block_scale(bits: int) -> None:
    weight = np.random.default_rng(0).normal(size=(70, 5)).astype(np.float32)  # K not whole
    packed, scales = pack_blocks(weight, 32, bits)
    assert packed.shape == (5, 3, 32 * bits // 8) and packed.dtype == np.uint8
    assert scales.shape == (5, 3)
    restored = unpack_blocks(packed, scales, 70, bits)
    step = np.repeat(scales.T, 32, axis=0)[:70]
    assert np.all(np.abs(restored - weight) <= step / 2 + 1e-7)
    zero = pack_blocks(np.zeros((32, 2), dtype=np.float32), 32, bits)
    assert np.all(unpack_blocks(*zero, 32, bits) == 0.0)


def _one_matmul(weight: np.ndarray) -> onnx.ModelProto:
    k, n = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        [numpy_helper.from_array(weight, "w")],
    )
    return _model(graph)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("block_size", [16, 32, 128])
def test_onnx_runtime_multiplies_by_exactly_the_unpacked_weight(
    tmp_path: Path, block_size: int, bits: int
) -> None:
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(96, 24)).astype(np.float32)
    model = _one_matmul(weight)
    assert matmuls_to_blocks(model, bits, block_size) == 1
    (node,) = model.graph.node
    assert (node.op_type, node.domain) == ("MatMulNBits", "com.microsoft")
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    decoded = unpack_blocks(arrays[f"w_Q{bits}"], arrays["w_scales"], 96, bits)
    x = rng.normal(size=(3, 96)).astype(np.float32)
    (y,) = _session(model, tmp_path / "q.onnx").run(None, {"x": x})
    np.testing.assert_allclose(y, x @ decoded, rtol=1e-4, atol=1e-4)
    exact = x @ weight
    # close, not equal: 4 bits within 20 %, 8 bits within 2 %
    assert np.linalg.norm(y - exact) < (0.2 if bits == 4 else 0.02) * np.linalg.norm(exact)


def test_shared_weights_and_bad_settings_are_left_alone_or_refused() -> None:
    model = _one_matmul(np.ones((32, 4), dtype=np.float32))
    model.graph.node.append(helper.make_node("MatMul", ["x", "w"], ["y2"]))  # w used twice
    assert matmuls_to_blocks(model, 4) == 0
    assert [node.op_type for node in model.graph.node] == ["MatMul", "MatMul"]
    with pytest.raises(ValueError, match="power of two >= 16"):
        matmuls_to_blocks(model, 4, block_size=24)
    with pytest.raises(ValueError, match=r"bits must be one of \(4, 8\), not 2"):
        matmuls_to_blocks(model, 2)


@pytest.mark.parametrize("bits", BITS)
def test_embedding_tables_read_by_gathers_alone_are_looked_up_exactly_as_decoded(
    tmp_path: Path, bits: int
) -> None:
    rng = np.random.default_rng(2)
    table = rng.normal(size=(50, 64)).astype(np.float32)
    odd = rng.normal(size=(10, 40)).astype(np.float32)  # 40 is not whole blocks of 32
    graph = helper.make_graph(
        [  # one table read twice, as LayoutLM reads x0 and x1 from its x table
            helper.make_node("Gather", ["table", "a"], ["ya"]),
            helper.make_node("Gather", ["table", "b"], ["yb"]),
            helper.make_node("Gather", ["odd", "small"], ["yo"]),
        ],
        "embeddings",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["t"]) for n in ("a", "b", "small")],
        [
            helper.make_tensor_value_info("ya", TensorProto.FLOAT, ["t", 64]),
            helper.make_tensor_value_info("yb", TensorProto.FLOAT, ["t", 64]),
            helper.make_tensor_value_info("yo", TensorProto.FLOAT, ["t", 40]),
        ],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(odd, "odd")],
    )
    model = _model(graph)
    assert embeddings_to_blocks(model, bits, 32, min_rows=51) == 0  # too few rows
    assert embeddings_to_blocks(model, bits, 32, min_rows=50) == 1
    assert [node.op_type for node in model.graph.node] == [
        "GatherBlockQuantized",
        "GatherBlockQuantized",
        "Gather",
    ]
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    codes, scales = arrays[f"table_Q{bits}"], arrays["table_scales"]
    assert codes.shape == (50, 64 * bits // 8) and scales.shape == (50, 2)
    decoded = unpack_blocks(codes.reshape(50, 2, -1), scales, 64, bits).T
    a, b = np.array([0, 7, 49]), np.array([3, 3])
    session = _session(model, tmp_path / "embeddings.onnx")
    ya, yb, yo = session.run(None, {"a": a, "b": b, "small": a % 10})
    np.testing.assert_array_equal(ya, decoded[a])
    np.testing.assert_array_equal(yb, decoded[b])
    np.testing.assert_array_equal(yo, odd[a % 10])
    assert np.abs(ya - table[a]).max() <= scales.max() / 2 + 1e-6


def test_int8_quantizes_matmuls_dynamically_and_tables_in_blocks_of_128_or_16(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(3)
    table = rng.normal(size=(20, 48)).astype(np.float32)  # 48: not whole blocks of 128
    weight = rng.normal(size=(48, 8)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "i"], ["e"]),
            helper.make_node("MatMul", ["e", "w"], ["y"]),
        ],
        "narrow",
        [helper.make_tensor_value_info("i", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "w")],
    )
    source, target = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(_model(graph), str(source))
    to_int8(source, target)
    quantized = onnx.load(str(target))
    ops = {node.op_type for node in quantized.graph.node}
    assert {"MatMulInteger", "GatherBlockQuantized"} <= ops and not {"MatMul", "Gather"} & ops
    (gather,) = [node for node in quantized.graph.node if node.op_type == "GatherBlockQuantized"]
    assert {a.name: a.i for a in gather.attribute}["block_size"] == 16
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"i": np.array([0, 19])})
    exact = table[[0, 19]] @ weight
    assert np.linalg.norm(y - exact) < 0.02 * np.linalg.norm(exact)


def test_int8_refuses_a_graph_without_a_matmul_to_quantize(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "none",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    source = tmp_path / "fp32.onnx"
    onnx.save(_model(graph), str(source))
    with pytest.raises(ValueError, match="no MatMul with a constant weight to quantize"):
        to_int8(source, tmp_path / "int8.onnx")
