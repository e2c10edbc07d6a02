"""The 4-bit MatMulNBits weights written with numpy: the layout ONNX Runtime reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from receipts.adapters.onnx.int4 import (
    embeddings_to_int4,
    matmuls_to_int4,
    pack_int4,
    unpack_int4,
)


def test_codes_round_to_within_half_a_step_of_each_block_scale() -> None:
    weight = np.random.default_rng(0).normal(size=(70, 5)).astype(np.float32)  # K not whole
    packed, scales = pack_int4(weight, 32)
    assert packed.shape == (5, 3, 16) and packed.dtype == np.uint8
    assert scales.shape == (5, 3)
    restored = unpack_int4(packed, scales, 70)
    step = np.repeat(scales.T, 32, axis=0)[:70]
    assert np.all(np.abs(restored - weight) <= step / 2 + 1e-7)
    zero = pack_int4(np.zeros((32, 2), dtype=np.float32), 32)
    assert np.all(unpack_int4(*zero, 32) == 0.0)


def _one_matmul(weight: np.ndarray) -> onnx.ModelProto:
    k, n = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        [numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("block_size", [16, 32, 128])
def test_onnx_runtime_multiplies_by_exactly_the_unpacked_weight(
    tmp_path: Path, block_size: int
) -> None:
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(96, 24)).astype(np.float32)
    model = _one_matmul(weight)
    assert matmuls_to_int4(model, block_size) == 1
    (node,) = model.graph.node
    assert (node.op_type, node.domain) == ("MatMulNBits", "com.microsoft")
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    expected_weight = unpack_int4(arrays["w_Q4"], arrays["w_scales"], 96)
    path = tmp_path / "int4.onnx"
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = rng.normal(size=(3, 96)).astype(np.float32)
    (y,) = session.run(None, {"x": x})
    np.testing.assert_allclose(y, x @ expected_weight, rtol=1e-4, atol=1e-4)
    exact = x @ weight
    assert np.linalg.norm(y - exact) < 0.2 * np.linalg.norm(exact)  # 4 bits: close, not equal


def test_shared_or_non_constant_weights_are_left_alone() -> None:
    weight = np.ones((32, 4), dtype=np.float32)
    model = _one_matmul(weight)
    model.graph.node.append(helper.make_node("MatMul", ["x", "w"], ["y2"]))  # w used twice
    assert matmuls_to_int4(model) == 0
    assert [node.op_type for node in model.graph.node] == ["MatMul", "MatMul"]
    with pytest.raises(ValueError, match="power of two >= 16"):
        matmuls_to_int4(model, block_size=24)


def test_embedding_tables_read_by_gathers_alone_become_4_bit_and_are_looked_up_exactly(
    tmp_path: Path,
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert embeddings_to_int4(model, 32, min_rows=51) == 0  # too few rows: left alone
    assert embeddings_to_int4(model, 32, min_rows=50) == 1
    assert [node.op_type for node in model.graph.node] == [
        "GatherBlockQuantized",
        "GatherBlockQuantized",
        "Gather",
    ]
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    assert arrays["table_Q4"].shape == (50, 32) and arrays["table_scales"].shape == (50, 2)
    decoded = unpack_int4(arrays["table_Q4"].reshape(50, 2, 16), arrays["table_scales"], 64).T
    path = tmp_path / "embeddings.onnx"
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    a, b = np.array([0, 7, 49]), np.array([3, 3])
    ya, yb, yo = session.run(None, {"a": a, "b": b, "small": a % 10})
    np.testing.assert_array_equal(ya, decoded[a])
    np.testing.assert_array_equal(yb, decoded[b])
    np.testing.assert_array_equal(yo, odd[a % 10])
    assert np.abs(ya - table[a]).max() <= arrays["table_scales"].max() / 2 + 1e-6
