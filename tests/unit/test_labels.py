"""Labels, merge presets (as in the seeds) and BIO tags."""

from __future__ import annotations

import pytest

from receipts.domain.labels import (
    CORE_LABELS,
    KNOWN_LABELS,
    MERGE_PRESETS,
    MERGED_LABELS,
    bio_tags,
    merge_map,
    unknown_labels,
)

AMOUNTS = {"LINE_TOTAL": "AMOUNT", "SUBTOTAL": "AMOUNT", "TAX": "AMOUNT", "GRAND_TOTAL": "AMOUNT"}


def test_the_amounts_preset_merges_every_money_label() -> None:
    assert merge_map(["amounts"]) == AMOUNTS


def test_the_date_time_preset_merges_time_into_date() -> None:
    assert merge_map(["date_time"]) == {"TIME": "DATE"}


def test_the_sroie_preset_is_amounts_date_and_address() -> None:
    assert merge_map(["sroie"]) == AMOUNTS | {
        "TIME": "DATE",
        "PHONE_NUMBER": "ADDRESS",
        "ADDRESS_LINE": "ADDRESS",
    }


def test_presets_combine() -> None:
    assert merge_map(["amounts", "date_time"]) == AMOUNTS | {"TIME": "DATE"}
    assert merge_map([]) == {}


def test_an_unknown_preset_is_an_error() -> None:
    with pytest.raises(KeyError):
        merge_map(["bogus"])


def test_every_preset_merges_known_labels_only() -> None:
    for preset in MERGE_PRESETS.values():
        for sources in preset.values():
            assert set(sources) <= set(CORE_LABELS)


def test_merged_labels_are_the_new_targets() -> None:
    assert {"AMOUNT", "ADDRESS"} == MERGED_LABELS
    assert {*CORE_LABELS, "AMOUNT", "ADDRESS"} == KNOWN_LABELS


def test_unknown_labels_are_listed_sorted_once() -> None:
    assert unknown_labels(["TIP", "DATE", "O", "AMOUNT", "BARCODE", "TIP"]) == ["BARCODE", "TIP"]


def test_bio_tags_start_with_outside_then_begin_inside_pairs_sorted() -> None:
    assert bio_tags(["DATE", "AMOUNT", "O", "DATE"]) == [
        "O",
        "B-AMOUNT",
        "I-AMOUNT",
        "B-DATE",
        "I-DATE",
    ]
    assert bio_tags([]) == ["O"]
