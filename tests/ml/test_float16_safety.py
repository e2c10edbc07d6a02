"""The float16 check that runs before any conversion."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import Tensor  # noqa: E402

from receipts.adapters.torch.export_model import (  # noqa: E402
    MASKED_SCORE,
    ExportableTokenClassifier,
    example_inputs,
)
from receipts.adapters.torch.float16_safety import FLOAT16_MAX, check_float16  # noqa: E402
from receipts.adapters.torch.models import build_model  # noqa: E402
from receipts.application.ports.exporter import ExportFailed  # noqa: E402

TAGS = ["O", "B-AMOUNT", "I-AMOUNT"]


@pytest.fixture
def wrapper() -> ExportableTokenClassifier:
    torch.manual_seed(0)
    model = build_model("tiny", TAGS, vocab_size=300)
    model.config._attn_implementation = "eager"
    return ExportableTokenClassifier(model)


def parameter(wrapper: ExportableTokenClassifier, name: str) -> Tensor:
    return wrapper.get_parameter(name)


def test_a_healthy_model_passes_with_its_figures(wrapper: ExportableTokenClassifier) -> None:
    check = check_float16(wrapper, [example_inputs(24, 300, batch=2, padding=6)])
    assert 0 < check.max_activation < FLOAT16_MAX
    assert check.max_abs_logit_difference < 0.05
    assert check.argmax_agreement > 0.9
    assert check.figures()["fp16_check"] == "passed"


def test_activations_beyond_65504_are_named(wrapper: ExportableTokenClassifier) -> None:
    with torch.no_grad():
        parameter(wrapper, "encoder.layer.1.intermediate.dense.weight").mul_(1e5)
    with pytest.raises(ExportFailed, match=r"overflow float16 at encoder\.layer\.1\.intermediate"):
        check_float16(wrapper, [example_inputs(16, 300)])


def test_a_nan_weight_is_named_at_its_layer(wrapper: ExportableTokenClassifier) -> None:
    with torch.no_grad():
        parameter(wrapper, "encoder.layer.0.output.dense.weight")[0, 0] = float("nan")
    with pytest.raises(ExportFailed, match=r"NaN or infinity at encoder\.layer\.0\.output\.dense"):
        check_float16(wrapper, [example_inputs(16, 300)])


def test_float16_only_overflow_is_caught_in_the_half_precision_pass(
    wrapper: ExportableTokenClassifier,
) -> None:
    """Query and key scaled so that q.k (inside attention, no module's output) passes
    65504 only in float16: the float32 pass sees nothing, the float16 pass names it."""
    with torch.no_grad():
        parameter(wrapper, "encoder.layer.0.attention.self.query.weight").mul_(600)
        parameter(wrapper, "encoder.layer.0.attention.self.key.weight").mul_(600)
    with pytest.raises(ExportFailed, match=r"float16 compute turns NaN or infinite at encoder"):
        check_float16(wrapper, [example_inputs(16, 300)])


def test_padding_is_masked_with_a_float16_safe_score(wrapper: ExportableTokenClassifier) -> None:
    """The wrapper never adds finfo(float32).min (-inf in float16, and NaN once multiplied
    by 0); padded and unpadded sequences give the same logits for the real tokens."""
    assert -FLOAT16_MAX < MASKED_SCORE < -1000
    ids, bbox, mask = example_inputs(20, 300, padding=5)
    with torch.inference_mode():
        padded = wrapper(ids, bbox, mask)[0][:, :15]
        alone = wrapper(ids[:, :15], bbox[:, :15], mask[:, :15])[0]
        in_half = wrapper.half()(ids, bbox, mask)[0]
    assert torch.allclose(padded, alone, atol=1e-5)
    assert bool(torch.isfinite(in_half).all())
