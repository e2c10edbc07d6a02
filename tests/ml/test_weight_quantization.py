"""The torch-side simulation of CoreML's weight quantization."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import Tensor  # noqa: E402

from receipts.adapters.torch.models import build_model  # noqa: E402
from receipts.adapters.torch.weight_quantization import (  # noqa: E402
    INT4_PER_BLOCK,
    INT8_PER_CHANNEL,
    WeightQuantization,
    fake_quantize,
    quantize_weights,
)


def _weight(rows: int = 8, columns: int = 64, seed: int = 0) -> Tensor:
    weight: Tensor = torch.randn(rows, columns, generator=torch.Generator().manual_seed(seed))
    return weight * 0.05


@pytest.mark.parametrize(("scheme", "levels"), [(INT8_PER_CHANNEL, 127), (INT4_PER_BLOCK, 7)])
def test_each_row_or_block_takes_at_most_2L_plus_1_values(
    scheme: WeightQuantization, levels: int
) -> None:
    weight = _weight()
    restored = fake_quantize(weight, scheme)
    assert restored is not None
    block = scheme.block_size or weight.shape[1]
    for row in restored:
        for chunk in row.split(block):
            scale = float(chunk.abs().max()) / levels
            steps = chunk / scale
            assert torch.allclose(steps, steps.round(), atol=2e-3), "values lie on the grid"
            assert int(steps.round().abs().max()) == levels, "the largest |w| maps to L"


def test_the_error_is_at_most_half_a_step_per_row() -> None:
    weight = _weight()
    restored = fake_quantize(weight, INT8_PER_CHANNEL)
    assert restored is not None
    step = weight.abs().amax(dim=1, keepdim=True) / 127
    # half a step, plus float16 rounding of the weights themselves
    assert bool(((restored - weight).abs() <= step / 2 + weight.abs() * 1e-3 + 1e-6).all())


def test_four_bits_lose_more_than_eight() -> None:
    weight = _weight(columns=128)
    int8 = fake_quantize(weight, INT8_PER_CHANNEL)
    int4 = fake_quantize(weight, INT4_PER_BLOCK)
    assert int8 is not None and int4 is not None
    assert float((int4 - weight).abs().mean()) > 5 * float((int8 - weight).abs().mean())


def test_a_zero_row_stays_zero() -> None:
    weight = _weight()
    weight[3] = 0
    restored = fake_quantize(weight, INT4_PER_BLOCK)
    assert restored is not None
    assert bool((restored[3] == 0).all())
    assert bool(torch.isfinite(restored).all())


def test_rows_that_blocks_do_not_divide_are_left_alone() -> None:
    assert fake_quantize(_weight(columns=48), WeightQuantization(bits=4, block_size=32)) is None


def test_the_same_as_coremltools_computes() -> None:
    """Bit-for-bit what coremltools' linear_symmetric quantization dequantizes to."""
    np = pytest.importorskip("numpy")
    utils = pytest.importorskip("coremltools.optimize._utils")
    weight = _weight(rows=16, columns=128, seed=3)
    for scheme, block_sizes in [
        (INT8_PER_CHANNEL, [1, 0]),
        (INT4_PER_BLOCK, [1, INT4_PER_BLOCK.block_size]),
    ]:
        quantized, scale, _ = utils.compute_qparams(
            weight.half().numpy(),
            nbits=scheme.bits,
            signed=True,
            quantization_mode="LINEAR_SYMMETRIC",
            dtype=np.int8,
            block_sizes=block_sizes,
        )
        scale = scale.reshape(16, -1, 1).astype(np.float32)
        expected = (quantized.astype(np.float32).reshape(16, scale.shape[1], -1) * scale).reshape(
            16, 128
        )
        mine = fake_quantize(weight, scheme)
        assert mine is not None
        assert np.array_equal(mine.numpy(), expected), scheme


def test_a_model_copy_is_quantized_and_the_original_kept() -> None:
    torch.manual_seed(0)
    model = build_model("tiny", ["O", "B-AMOUNT", "I-AMOUNT"], vocab_size=300)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantized, summary = quantize_weights(model, INT8_PER_CHANNEL)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    after = quantized.state_dict()
    assert "layoutlm.embeddings.word_embeddings" in summary.quantized
    assert "layoutlm.encoder.layer.0.attention.self.query" in summary.quantized
    # small weights (the 3x128 classifier, 2x128 token types) stay as they are
    assert "classifier" not in summary.quantized
    assert torch.equal(after["classifier.weight"], before["classifier.weight"])
    assert torch.equal(
        after["layoutlm.encoder.layer.0.attention.self.query.bias"],
        before["layoutlm.encoder.layer.0.attention.self.query.bias"],
    )
    query = "layoutlm.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(after[query], before[query])
    assert 0 < summary.max_abs_error < 0.01


@pytest.mark.parametrize(("bits", "block"), [(3, None), (8, 0)])
def test_unsupported_schemes_are_refused(bits: int, block: int | None) -> None:
    with pytest.raises(ValueError, match=r"bits|block size"):
        WeightQuantization(bits=bits, block_size=block)
