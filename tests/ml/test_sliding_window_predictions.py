"""Sliding-window inference with a real (tiny, untrained) LayoutLM: one prediction per word."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from receipts.adapters.torch.models import build_model  # noqa: E402
from receipts.adapters.torch.prediction import predict  # noqa: E402
from receipts.adapters.torch.tokenization import train_tokenizer  # noqa: E402
from receipts.application.ports.training_data import LabelledReceipt  # noqa: E402
from receipts.domain.labels import bio_tags  # noqa: E402

TAGS = bio_tags(["DATE", "AMOUNT", "MERCHANT_NAME"])
VOCABULARY = ["total", "milk", "bread", "12.50", "2024-01-02", "corner", "mart", "tax", "$"]


@pytest.fixture(scope="module")
def model_and_tokenizer() -> Iterator[tuple[Any, Any]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model runs fastest on one thread, and never oversubscribes
    torch.manual_seed(0)
    tokenizer = train_tokenizer(VOCABULARY * 3, vocab_size=200)
    yield build_model("tiny", TAGS, tokenizer.vocab_size), tokenizer
    torch.set_num_threads(threads)


texts = st.one_of(
    st.sampled_from(VOCABULARY),
    st.text(alphabet="abcxyz0123456789.,:$-/ é中\u200b", max_size=12),  # unknown, empty, spaces
)


@st.composite
def receipts(draw: st.DrawFn) -> LabelledReceipt:
    words = draw(st.integers(1, 300))
    boxes = []
    for _ in range(words):
        x0, x1 = sorted(draw(st.tuples(st.integers(0, 1000), st.integers(0, 1000))))
        y0, y1 = sorted(draw(st.tuples(st.integers(0, 1000), st.integers(0, 1000))))
        boxes.append((x0, y0, x1, y1))
    return LabelledReceipt(
        receipt_id="r",
        texts=tuple(draw(st.lists(texts, min_size=words, max_size=words))),
        boxes=tuple(boxes),
        tags=("O",) * words,
        lines=tuple(i // 5 for i in range(words)),
    )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(receipts(), st.integers(32, 128), st.integers(0, 16))
def test_every_word_gets_exactly_one_prediction(
    model_and_tokenizer: tuple[Any, Any], receipt: LabelledReceipt, max_length: int, stride: int
) -> None:
    model, tokenizer = model_and_tokenizer

    run = predict(model, tokenizer, [receipt], max_length=max_length, stride=stride)

    [words] = run.words
    assert len(words) == len(receipt.texts)
    assert all(w.tag in TAGS for w in words)
    assert all(0.0 <= w.confidence <= 1.0 for w in words)
    assert run.loss is None


def test_predictions_do_not_depend_on_the_batch(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    receipts = [
        LabelledReceipt(
            receipt_id=str(n),
            texts=tuple(VOCABULARY[i % len(VOCABULARY)] for i in range(n)),
            boxes=tuple((i, i, i + 5, i + 5) for i in range(n)),
            tags=("O",) * n,
            lines=(0,) * n,
        )
        for n in (3, 40, 90)
    ]

    together = predict(model, tokenizer, receipts, max_length=48, stride=8, batch_size=2)
    alone = [predict(model, tokenizer, [r], max_length=48, stride=8).words[0] for r in receipts]

    assert [[w.tag for w in ws] for ws in together.words] == [[w.tag for w in ws] for ws in alone]
    for mine, theirs in zip(together.words, alone, strict=True):
        assert [w.confidence for w in mine] == pytest.approx([w.confidence for w in theirs])


def test_with_tags_the_loss_is_finite(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    receipt = LabelledReceipt(
        receipt_id="r",
        texts=("corner", "mart", "12.50"),
        boxes=((0, 0, 10, 10),) * 3,
        tags=("B-MERCHANT_NAME", "I-MERCHANT_NAME", "B-AMOUNT"),
        lines=(0, 0, 1),
    )

    run = predict(
        model,
        tokenizer,
        [receipt],
        max_length=32,
        stride=0,
        tag_ids={t: i for i, t in enumerate(TAGS)},
    )

    assert run.loss is not None and run.loss == run.loss and run.loss > 0
