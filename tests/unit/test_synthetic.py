"""Synthetic receipts: a pure function of (seed, index), consistent words, boxes and fields."""

from __future__ import annotations

import pytest

from receipts.adapters.synthetic.generator import generate_receipt, generate_receipts, render
from receipts.domain.receipt import Receipt

SAMPLE = 60


def test_the_same_seed_and_index_give_the_same_receipt() -> None:
    assert generate_receipt(3, 17) == generate_receipt(3, 17)


def test_another_index_or_seed_gives_another_receipt() -> None:
    first, _ = generate_receipt(3, 17)

    assert generate_receipt(3, 18)[0].words != first.words
    assert generate_receipt(4, 17)[0].words != first.words
    assert generate_receipt(3, 18)[0].receipt_id != first.receipt_id


def test_generate_receipts_is_indices_0_to_n() -> None:
    receipts = generate_receipts(3, seed=5)

    assert receipts == [generate_receipt(5, i)[0] for i in range(3)]
    assert len({r.receipt_id for r in receipts}) == 3


def test_every_word_box_lies_inside_the_image() -> None:
    for receipt in generate_receipts(SAMPLE, seed=0):
        for word in receipt.words:
            b = word.box
            assert 0 <= b.x0 <= b.x1 <= receipt.width, (receipt.receipt_id, word.text, b)
            assert 0 <= b.y0 <= b.y1 <= receipt.height, (receipt.receipt_id, word.text, b)


def joined(receipt: Receipt, label: str) -> str:
    return " ".join(w.text for w in receipt.words if w.label == label)


def test_fields_agree_with_the_labelled_words() -> None:
    for receipt in generate_receipts(SAMPLE, seed=0):
        fields = receipt.fields

        [grand_total] = [w.text for w in receipt.words if w.label == "GRAND_TOTAL"]
        assert fields["total"] == grand_total.lstrip("$"), receipt.receipt_id
        assert fields["company"] == joined(receipt, "MERCHANT_NAME")
        assert fields["address"] == joined(receipt, "ADDRESS_LINE")
        assert fields["phone"] == joined(receipt, "PHONE_NUMBER")
        assert fields["date"] == joined(receipt, "DATE")
        assert fields["time"] == joined(receipt, "TIME")


def amount(receipt: Receipt, label: str) -> float:
    [text] = [w.text for w in receipt.words if w.label == label]
    return float(text.lstrip("$"))


def test_the_grand_total_is_subtotal_plus_tax() -> None:
    for r in generate_receipts(SAMPLE, seed=0):
        total = amount(r, "SUBTOTAL") + amount(r, "TAX")
        assert amount(r, "GRAND_TOTAL") == pytest.approx(total, abs=0.011), r.receipt_id


def test_word_ids_count_up_and_lines_never_go_back() -> None:
    receipt, _ = generate_receipt(0, 1)

    assert [w.word_id for w in receipt.words] == list(range(len(receipt.words)))
    lines = [w.line_id for w in receipt.words]
    assert lines == sorted(lines)


def test_render_has_the_receipts_size() -> None:
    receipt, _ = generate_receipt(1, 2)

    image = render(1, 2)

    assert image.size == (receipt.width, receipt.height)
    assert image.mode == "L"


def test_render_is_deterministic() -> None:
    assert render(1, 2).tobytes() == render(1, 2).tobytes()
    assert render(1, 2).tobytes() != render(1, 3).tobytes()


def test_render_draws_ink_inside_the_word_boxes() -> None:
    receipt, _ = generate_receipt(2, 0)
    image = render(2, 0, noise=0)
    background = image.getpixel((0, 0))

    word = max(receipt.words, key=lambda w: w.box.x1 - w.box.x0)
    box = tuple(round(v) for v in word.box.as_list())
    darkest, _ = image.crop(box).getextrema()

    assert isinstance(background, int)
    assert darkest < background - 100
