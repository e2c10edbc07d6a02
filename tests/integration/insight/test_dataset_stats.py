"""Dataset statistics: counts, labels by validation status, what a label policy makes of
them, and the O:entity balance, on synthetic receipts."""

from __future__ import annotations

import pytest

from receipts.adapters.synthetic.generator import generate_receipts
from receipts.application.insight import Insight
from receipts.application.insight.dataset_stats import DatasetInsight
from receipts.domain.config import DataConfig
from receipts.domain.labels import OUTSIDE, ValidationStatus
from receipts.domain.receipt import Receipt, count_labels


@pytest.fixture(scope="module")
def receipts() -> list[Receipt]:
    return generate_receipts(40, seed=3)


def stats(receipts: list[Receipt], ratio: float | None = None, **data: object) -> DatasetInsight:
    return Insight.dataset_stats(
        receipts, DataConfig.model_validate(data), source="synthetic", o_entity_ratio=ratio
    )


def test_counts_receipts_lines_words_and_labels_by_status(receipts: list[Receipt]) -> None:
    found = stats(receipts)

    assert found.total_receipts == 40 and found.receipts_without_words == 0
    assert found.total_words == sum(len(r.words) for r in receipts)
    assert found.total_lines == sum(len(r.lines()) for r in receipts)
    assert found.label_counts_by_status == count_labels(receipts)
    assert found.label_counts == {
        label: by.get("VALID", 0) for label, by in count_labels(receipts).items()
    }
    valid = sum(found.label_counts.values())
    assert found.total_valid_labels == valid
    assert sum(found.label_distribution.values()) == pytest.approx(1.0)
    assert found.problem is None and found.content_hash
    assert found.train_receipts is not None and found.validation_receipts is not None
    assert found.train_receipts + found.validation_receipts == 40


def test_presets_merge_and_the_whitelist_drops(receipts: list[Receipt]) -> None:
    found = stats(receipts, merge_amounts=True, allowed_labels=["AMOUNT", "DATE"])

    policy = {effect.label: effect.trains_as for effect in found.label_policy}
    assert policy["LINE_TOTAL"] == policy["GRAND_TOTAL"] == "AMOUNT"
    assert policy["DATE"] == "DATE"
    assert policy["PRODUCT_NAME"] == OUTSIDE
    assert found.entity_labels == ["AMOUNT", "DATE"]
    assert set(found.training_label_counts) == {"AMOUNT", "DATE"}
    amounts = ("LINE_TOTAL", "SUBTOTAL", "TAX", "GRAND_TOTAL")
    expected = sum(found.label_counts.get(label, 0) for label in amounts)
    assert found.training_label_counts["AMOUNT"] == expected
    dropped = sum(e.valid for e in found.label_policy if e.trains_as == OUTSIDE)
    assert found.valid_words_dropped_by_whitelist == dropped > 0
    assert found.balance.entity_words == sum(found.training_label_counts.values())
    assert found.balance.outside_words == found.total_words - found.balance.entity_words


def test_labels_that_are_not_valid_train_as_o(receipts: list[Receipt]) -> None:
    first = receipts[0]
    words = tuple(
        w.model_copy(update={"validation_status": ValidationStatus.NEEDS_REVIEW})
        if w.label != OUTSIDE
        else w
        for w in first.words
    )
    changed = [first.model_copy(update={"words": words}), *receipts[1:]]
    entity = sum(w.label != OUTSIDE for w in first.words)

    before, after = stats(receipts), stats(changed)

    assert after.labelled_words_not_valid == before.labelled_words_not_valid + entity
    assert after.balance.entity_words == before.balance.entity_words - entity


def test_the_o_entity_target_balances_the_training_split(receipts: list[Receipt]) -> None:
    found = stats(receipts, ratio=0.5, allowed_labels=["DATE"])

    assert found.train_balance is not None and found.dropped_lines > 0
    ratio = found.train_balance.o_entity_ratio
    assert ratio is not None and ratio < found.balance.o_entity_ratio  # type: ignore[operator]


def test_a_policy_that_leaves_nothing_to_train_says_why(receipts: list[Receipt]) -> None:
    found = stats(receipts, allowed_labels=["LOYALTY_ID"])

    assert found.balance.entity_words == 0 and found.balance.o_entity_ratio is None
    assert found.problem is not None and "no word carries a VALID label" in found.problem
    assert found.train_receipts is None


def test_no_receipts_at_all() -> None:
    found = stats([])

    assert (found.total_receipts, found.total_words, found.label_distribution) == (0, 0, {})
    assert found.problem is not None
