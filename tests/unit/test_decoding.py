"""Decoding tag probabilities into labels and the BIO tags the lines imply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.domain.decoding import (
    bio_by_lines,
    decode_receipt,
    decode_word,
    label_probabilities,
    line_level_labels,
)
from receipts.domain.labels import bio_tags, label_of

TAGS = bio_tags(["ADDRESS", "DATE", "MERCHANT_NAME"])


def test_a_label_is_chosen_by_its_b_and_i_summed() -> None:
    # the single likeliest tag is O, but the word is more likely an address than not
    row = [0.4, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0]
    word = decode_word(TAGS, row)

    assert word.label == "ADDRESS"
    assert word.confidence == pytest.approx(0.6)
    assert word.scores == pytest.approx(
        {"O": 0.4, "ADDRESS": 0.6, "DATE": 0.0, "MERCHANT_NAME": 0.0}
    )


def test_a_tie_never_makes_an_entity() -> None:
    assert decode_word(TAGS, [0.5, 0.25, 0.25, 0, 0, 0, 0]).label == "O"


def test_b_and_i_follow_labels_and_lines() -> None:
    labels = ["ADDRESS", "ADDRESS", "ADDRESS", "O", "DATE", "ADDRESS"]
    lines = [0, 0, 1, 1, 1, 1]

    assert bio_by_lines(labels, lines) == [
        "B-ADDRESS",
        "I-ADDRESS",
        "B-ADDRESS",  # a new line starts a new entity
        "O",
        "B-DATE",
        "B-ADDRESS",
    ]


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="3 probabilities for 7 tags"):
        label_probabilities(TAGS, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="2 labels for 1 line ids"):
        bio_by_lines(["O", "O"], [0])


rows = st.lists(st.floats(0, 1, allow_nan=False), min_size=len(TAGS), max_size=len(TAGS)).map(
    lambda xs: [x / sum(xs) for x in xs] if sum(xs) > 0 else [1.0] + [0.0] * (len(TAGS) - 1)
)


@given(st.lists(st.tuples(rows, st.integers(0, 5)), max_size=40))
def test_decoded_tags_are_always_a_valid_bio_sequence(words: list[tuple[list[float], int]]) -> None:
    lines = sorted(line for _, line in words)  # reading order: line ids never go back
    decoded = [decode_word(TAGS, row) for row, _ in words]
    tags = bio_by_lines([w.label for w in decoded], lines)

    for i, tag in enumerate(tags):
        assert label_of(tag) == decoded[i].label
        if tag.startswith("I-"):  # an inside tag continues its label on the same line
            assert i > 0 and label_of(tags[i - 1]) == label_of(tag) and lines[i - 1] == lines[i]
        elif tag.startswith("B-") and i > 0 and lines[i - 1] == lines[i]:
            assert label_of(tags[i - 1]) != label_of(tag)
    for word, (row, _) in zip(decoded, words, strict=True):
        best = max(word.scores.values())
        assert word.confidence == pytest.approx(min(1.0, best))
        assert sum(word.scores.values()) == pytest.approx(sum(row))


def one_hot(tag: str, sure: float = 0.9) -> list[float]:
    rest = (1 - sure) / (len(TAGS) - 1)
    return [sure if t == tag else rest for t in TAGS]


def test_line_level_labels_are_those_that_cover_their_lines() -> None:
    receipts = [
        (["B-ADDRESS", "I-ADDRESS", "B-DATE", "O"], [0, 0, 1, 1]),  # DATE shares its line
        (["B-ADDRESS", "I-ADDRESS", "I-ADDRESS", "B-DATE"], [0, 0, 0, 1]),  # one word: no say
    ] * 10

    assert line_level_labels(receipts) == ("ADDRESS",)
    assert line_level_labels(receipts, min_lines=21) == ()  # too little evidence
    assert line_level_labels(receipts[:2], min_lines=1) == ("ADDRESS",)


def test_a_line_level_label_takes_the_whole_line_when_most_words_say_so() -> None:
    rows = [one_hot("B-ADDRESS"), one_hot("O", 0.6), one_hot("I-ADDRESS")]
    words = decode_receipt(TAGS, rows, [4, 4, 4], line_labels=["ADDRESS"])

    assert [w.label for w in words] == ["ADDRESS"] * 3
    assert words[1].confidence == pytest.approx(2 * (1 - 0.6) / 6)  # its own P(ADDRESS)


def test_a_line_level_label_leaves_a_line_where_few_words_say_so() -> None:
    stray = [0.3, 0.6, 0.0, 0.0, 0.0, 0.05, 0.05]  # ADDRESS 0.6, then O 0.3
    rows = [one_hot("B-MERCHANT_NAME"), one_hot("B-MERCHANT_NAME"), stray]
    words = decode_receipt(TAGS, rows, [0, 0, 0], line_labels=["ADDRESS"])

    assert [w.label for w in words] == ["MERCHANT_NAME", "MERCHANT_NAME", "O"]
    assert words[2].confidence == pytest.approx(0.3)
    # without line-level labels each word keeps its own label
    assert decode_receipt(TAGS, rows, [0, 0, 0])[2].label == "ADDRESS"


def test_decode_receipt_refuses_rows_and_lines_that_disagree() -> None:
    with pytest.raises(ValueError, match="2 probability rows for 1 line ids"):
        decode_receipt(TAGS, [one_hot("O"), one_hot("O")], [0])


@given(st.lists(st.tuples(rows, st.integers(0, 4)), max_size=40))
def test_line_level_labels_are_all_or_nothing_on_every_line(
    words: list[tuple[list[float], int]],
) -> None:
    lines = sorted(line for _, line in words)
    decoded = decode_receipt(TAGS, [row for row, _ in words], lines, ["ADDRESS", "DATE"])

    for line in set(lines):
        labels = [w.label for w, at in zip(decoded, lines, strict=True) if at == line]
        for label in ("ADDRESS", "DATE"):
            assert labels.count(label) in (0, len(labels))
