"""Preparing receipts for training: BIO tags, label policy, split, O:entity balance, lineage."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.application.ports.training_data import (
    DatasetStats,
    LabelledReceipt,
    PreparedDataset,
)
from receipts.application.training.datasets import (
    balance_outside,
    content_hash,
    label_receipt,
    prepare_dataset,
    split,
)
from receipts.domain.boxes import BoundingBox
from receipts.domain.config import DataConfig
from receipts.domain.decoding import bio_by_lines as bio
from receipts.domain.errors import InvalidInput
from receipts.domain.labels import ValidationStatus
from receipts.domain.receipt import Receipt, Word

V = ValidationStatus


Spec = tuple[str, str, int] | tuple[str, str, int, ValidationStatus]


def receipt(receipt_id: str, words: list[Spec], width: int = 1000, height: int = 1000) -> Receipt:
    """Words as (text, label, line[, status]); boxes are placed along each line."""
    built = []
    for index, spec in enumerate(words):
        text, label, line = spec[:3]
        status = spec[3] if len(spec) == 4 else V.VALID
        box = BoundingBox(x0=index * 10, y0=line * 20, x1=index * 10 + 8, y1=line * 20 + 15)
        built.append(
            Word(
                word_id=index,
                line_id=line,
                text=text,
                box=box,
                label=label,
                validation_status=status,
            )
        )
    return Receipt(receipt_id=receipt_id, width=width, height=height, words=tuple(built))


def labelled(receipt_id: str, lines: list[list[str]]) -> LabelledReceipt:
    """A prepared receipt from its tags, one list per line."""
    tags = [tag for line in lines for tag in line]
    line_ids = [number for number, line in enumerate(lines) for _ in line]
    return LabelledReceipt(
        receipt_id=receipt_id,
        texts=tuple(f"w{i}" for i in range(len(tags))),
        boxes=tuple((0, 0, 1, 1) for _ in tags),
        tags=tuple(tags),
        lines=tuple(line_ids),
    )


def toy_receipts(count: int = 10) -> list[Receipt]:
    return [
        receipt(
            f"r{i:02d}",
            [
                ("Corner", "MERCHANT_NAME", 0),
                ("Mart", "MERCHANT_NAME", 0),
                ("2024-01-0" + str(i % 9 + 1), "DATE", 1),
                ("Thanks", "O", 2),
                ("TOTAL", "O", 3),
                (f"{i}.50", "GRAND_TOTAL", 3),
            ],
        )
        for i in range(count)
    ]


# -- BIO ------------------------------------------------------------------------------------


def test_bio_begins_an_entity_at_a_label_change() -> None:
    labels = ["MERCHANT_NAME", "MERCHANT_NAME", "DATE", "O", "DATE"]

    assert bio(labels, [0] * 5) == ["B-MERCHANT_NAME", "I-MERCHANT_NAME", "B-DATE", "O", "B-DATE"]


def test_bio_begins_an_entity_at_a_new_line_even_with_the_same_label() -> None:
    labels = ["ADDRESS_LINE", "ADDRESS_LINE", "ADDRESS_LINE"]

    assert bio(labels, [0, 0, 1]) == ["B-ADDRESS_LINE", "I-ADDRESS_LINE", "B-ADDRESS_LINE"]


def test_bio_of_nothing_is_nothing() -> None:
    assert bio([], []) == []


# -- label policy ----------------------------------------------------------------------------


def test_only_valid_labels_are_trained_on() -> None:
    r = receipt(
        "r",
        [
            ("A", "MERCHANT_NAME", 0, V.VALID),
            ("B", "MERCHANT_NAME", 1, V.NEEDS_REVIEW),
            ("C", "MERCHANT_NAME", 2, V.INVALID),
        ],
    )

    assert label_receipt(r, DataConfig()).tags == ("B-MERCHANT_NAME", "O", "O")


def test_presets_merge_labels() -> None:
    r = receipt("r", [("1.00", "LINE_TOTAL", 0), ("0.10", "TAX", 1), ("1.10", "GRAND_TOTAL", 2)])

    tags = label_receipt(r, DataConfig(merge_amounts=True)).tags

    assert tags == ("B-AMOUNT", "B-AMOUNT", "B-AMOUNT")


def test_the_whitelist_turns_other_labels_into_o() -> None:
    r = receipt("r", [("Mart", "MERCHANT_NAME", 0), ("1/2/24", "DATE", 1), ("9:00", "TIME", 1)])

    tags = label_receipt(r, DataConfig(allowed_labels=("DATE",))).tags

    assert tags == ("O", "B-DATE", "O")


def test_boxes_are_normalised_to_0_1000() -> None:
    r = receipt("r", [("x", "O", 0)], width=200, height=100)  # box (0, 0, 8, 15)

    assert label_receipt(r, DataConfig()).boxes == ((0, 0, 40, 150),)


def test_boxes_outside_the_image_are_clamped_and_counted() -> None:
    word = Word(word_id=0, line_id=0, text="x", box=BoundingBox(x0=150, y0=50, x1=250, y1=90))
    r = Receipt(receipt_id="r", width=200, height=100, words=(word,))
    stats = DatasetStats()

    prepared = label_receipt(r, DataConfig(), stats)

    assert prepared.boxes == ((750, 500, 1000, 900),)
    assert stats.clamped_boxes == 1


# -- split -----------------------------------------------------------------------------------


def ids(receipts: list[LabelledReceipt]) -> list[str]:
    return sorted(r.receipt_id for r in receipts)


def many(count: int = 50) -> list[LabelledReceipt]:
    return [labelled(f"r{i:03d}", [["B-DATE", "O"]]) for i in range(count)]


def test_split_holds_out_the_share_and_keeps_every_receipt() -> None:
    train, validation = split(many(50), 0.2, seed=1)

    assert len(validation) == 10
    assert ids(train + validation) == ids(many(50))
    assert not set(ids(train)) & set(ids(validation))


def test_split_is_deterministic_by_seed() -> None:
    first = split(many(), 0.2, seed=7)
    again = split(many(), 0.2, seed=7)
    other = split(many(), 0.2, seed=8)

    assert ids(first[1]) == ids(again[1])
    assert ids(first[1]) != ids(other[1])


def test_split_does_not_depend_on_the_order_of_the_receipts() -> None:
    shuffled = many()
    random.Random(3).shuffle(shuffled)

    assert ids(split(shuffled, 0.2, seed=7)[1]) == ids(split(many(), 0.2, seed=7)[1])


# -- O:entity balance ------------------------------------------------------------------------


def noisy(count: int = 6) -> list[LabelledReceipt]:
    """Each receipt: an entity line with one O, then four O-only lines."""
    return [
        labelled(f"r{i}", [["B-DATE", "I-DATE", "O"], ["O", "O"], ["O"], ["O", "O", "O"], ["O"]])
        for i in range(count)
    ]


def counts(receipts: list[LabelledReceipt]) -> tuple[int, int]:
    tags = [tag for r in receipts for tag in r.tags]
    return sum(t == "O" for t in tags), sum(t != "O" for t in tags)


def test_balance_reaches_the_ratio() -> None:
    balanced, dropped = balance_outside(noisy(), ratio=1.0, seed=0)

    outside, entity = counts(balanced)
    assert entity == 12
    assert outside <= 1.0 * entity
    assert dropped > 0


def test_balance_drops_only_whole_lines_that_hold_only_o() -> None:
    balanced, _ = balance_outside(noisy(), ratio=1.0, seed=0)

    for before, after in zip(noisy(), balanced, strict=True):
        assert after.tags[:3] == before.tags[:3]  # the entity line is whole
        kept_lines = set(after.lines)
        for line in set(before.lines) - kept_lines:
            assert all(
                t == "O" for t, n in zip(before.tags, before.lines, strict=True) if n == line
            )
        for line in kept_lines:
            assert after.lines.count(line) == before.lines.count(line)


def test_balance_is_deterministic_by_seed() -> None:
    assert balance_outside(noisy(), 1.0, seed=4) == balance_outside(noisy(), 1.0, seed=4)


def test_balance_changes_nothing_when_the_ratio_already_holds() -> None:
    assert balance_outside(noisy(), ratio=100.0, seed=0) == (noisy(), 0)


def o_only_words(receipts: list[LabelledReceipt]) -> int:
    """Words on lines that hold only O: what balancing may drop."""
    total = 0
    for r in receipts:
        entity_lines = {n for t, n in zip(r.tags, r.lines, strict=True) if t != "O"}
        total += sum(1 for n in r.lines if n not in entity_lines)
    return total


@given(
    st.lists(
        st.lists(st.lists(st.sampled_from(["O", "B-DATE"]), min_size=1, max_size=4), max_size=5),
        min_size=1,
        max_size=6,
    ),
    st.floats(0.1, 5.0),
    st.integers(0, 3),
)
def test_balance_keeps_every_entity_and_reaches_the_ratio_when_it_can(
    receipts_lines: list[list[list[str]]], ratio: float, seed: int
) -> None:
    receipts = [labelled(f"r{i}", lines) for i, lines in enumerate(receipts_lines) if lines]
    outside_before, entity_before = counts(receipts)

    balanced, _ = balance_outside(receipts, ratio, seed)

    outside, entity = counts(balanced)
    assert entity == entity_before
    assert outside <= outside_before
    if entity and o_only_words(receipts) >= outside_before - int(ratio * entity):
        assert outside <= int(ratio * entity)


# -- prepare_dataset -------------------------------------------------------------------------


def prepare(receipts: list[Receipt], config: DataConfig | None = None) -> PreparedDataset:
    return prepare_dataset(
        receipts, config or DataConfig(), seed=42, o_entity_ratio=None, source="toy"
    )


def test_prepare_splits_and_tags() -> None:
    dataset = prepare_dataset(
        toy_receipts(10), DataConfig(merge_amounts=True), seed=42, o_entity_ratio=None, source="toy"
    )

    assert len(dataset.train) + len(dataset.validation) == 10
    assert len(dataset.validation) == 2
    assert "B-AMOUNT" in dataset.tags and "B-GRAND_TOTAL" not in dataset.tags
    assert dataset.stats.words == 60
    assert dataset.stats.entity_words == 40


def test_prepare_refuses_no_receipts() -> None:
    with pytest.raises(InvalidInput, match="no receipts with words"):
        prepare([])


def test_prepare_refuses_receipts_without_words() -> None:
    empty = Receipt(receipt_id="e", width=10, height=10, words=())

    with pytest.raises(InvalidInput, match="toy: no receipts with words"):
        prepare([empty, empty.model_copy(update={"receipt_id": "f"})])


def test_prepare_refuses_data_where_every_word_is_o() -> None:
    only_o = [receipt(f"r{i}", [("hello", "O", 0), ("world", "O", 1)]) for i in range(5)]

    with pytest.raises(InvalidInput, match="no word carries a VALID label"):
        prepare(only_o)


def test_prepare_refuses_data_whose_labels_are_all_unreviewed_or_filtered() -> None:
    unreviewed = [
        receipt(f"r{i}", [("Mart", "MERCHANT_NAME", 0, V.NEEDS_REVIEW)]) for i in range(4)
    ]
    filtered = [receipt(f"r{i}", [("Mart", "MERCHANT_NAME", 0)]) for i in range(4)]

    with pytest.raises(InvalidInput, match="VALID label"):
        prepare(unreviewed)
    with pytest.raises(InvalidInput, match="DATE"):
        prepare(filtered, DataConfig(allowed_labels=("DATE",)))


def test_prepare_refuses_a_single_receipt_it_cannot_split() -> None:
    with pytest.raises(InvalidInput, match="cannot be split"):
        prepare(toy_receipts(1))


def test_prepare_balances_only_the_training_split() -> None:
    receipts = [
        receipt(f"r{i}", [("1/1/24", "DATE", 0)] + [(f"o{j}", "O", j + 1) for j in range(8)])
        for i in range(10)
    ]

    dataset = prepare_dataset(receipts, DataConfig(), seed=42, o_entity_ratio=2.0, source="toy")

    assert dataset.train_stats.outside_words <= 2 * dataset.train_stats.entity_words
    assert dataset.train_stats.dropped_lines > 0
    assert all(len(r.texts) == 9 for r in dataset.validation)


# -- content hash ----------------------------------------------------------------------------


def hash_of(receipts: list[Receipt]) -> str:
    return prepare_dataset(
        receipts, DataConfig(), seed=42, o_entity_ratio=None, source="toy"
    ).content_hash


def test_content_hash_ignores_the_order_of_receipts() -> None:
    receipts = toy_receipts(10)

    assert hash_of(receipts) == hash_of(list(reversed(receipts)))


def test_content_hash_changes_when_one_label_changes() -> None:
    receipts = toy_receipts(10)
    changed = list(receipts)
    words = list(changed[3].words)
    words[0] = words[0].model_copy(update={"label": "ADDRESS_LINE"})
    changed[3] = changed[3].model_copy(update={"words": tuple(words)})

    assert hash_of(receipts) != hash_of(changed)


def test_content_hash_depends_on_the_tag_set() -> None:
    receipts = [labelled("a", [["B-DATE"]])]

    assert content_hash(receipts, ["O", "B-DATE", "I-DATE"]) != content_hash(receipts, ["O"])
