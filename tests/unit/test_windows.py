"""Sliding windows over a receipt's words, and which window each word takes its label from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.domain.windows import Window, owner_windows, plan_windows


def spans(windows: list[Window]) -> list[tuple[int, int]]:
    return [(w.start, w.end) for w in windows]


def test_a_short_receipt_is_one_window() -> None:
    assert spans(plan_windows([1, 2, 3], budget=10, stride=2)) == [(0, 3)]


def test_no_words_no_windows() -> None:
    assert plan_windows([], budget=10, stride=2) == []


def test_windows_without_stride_are_adjacent() -> None:
    assert spans(plan_windows([1] * 5, budget=2, stride=0)) == [(0, 2), (2, 4), (4, 5)]


def test_stride_makes_consecutive_windows_share_words() -> None:
    assert spans(plan_windows([1] * 5, budget=2, stride=1)) == [(0, 2), (1, 3), (2, 4), (3, 5)]


def test_a_word_longer_than_the_budget_gets_a_window_of_its_own() -> None:
    assert spans(plan_windows([1, 9, 1], budget=3, stride=0)) == [(0, 1), (1, 2), (2, 3)]


def test_an_empty_word_counts_as_one_token() -> None:
    assert spans(plan_windows([0, 0, 0], budget=2, stride=0)) == [(0, 2), (2, 3)]


@pytest.mark.parametrize(("budget", "stride"), [(0, 0), (5, -1)])
def test_a_bad_budget_or_stride_is_refused(budget: int, stride: int) -> None:
    with pytest.raises(ValueError, match=r"budget|stride"):
        plan_windows([1, 1], budget=budget, stride=stride)


def test_each_word_is_owned_by_the_window_where_it_sits_farthest_from_an_edge() -> None:
    windows = [Window(0, 4), Window(2, 6)]

    assert owner_windows(windows, 6) == [0, 0, 0, 1, 1, 1]


def test_a_word_in_no_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="word 2 is in no window"):
        owner_windows([Window(0, 2)], 3)


token_counts = st.lists(st.integers(0, 40), max_size=700)
budget_and_stride = st.integers(1, 510).flatmap(lambda b: st.tuples(st.just(b), st.integers(0, b)))


@given(token_counts, budget_and_stride)
def test_windows_cover_every_word(counts: list[int], bs: tuple[int, int]) -> None:
    windows = plan_windows(counts, *bs)

    covered = {word for w in windows for word in range(w.start, w.end)}
    assert covered == set(range(len(counts)))
    assert all(0 <= w.start < w.end <= len(counts) for w in windows)


@given(token_counts, budget_and_stride)
def test_each_window_fits_the_budget_unless_it_holds_one_word(
    counts: list[int], bs: tuple[int, int]
) -> None:
    budget, stride = bs
    for w in plan_windows(counts, budget, stride):
        tokens = sum(max(1, c) for c in counts[w.start : w.end])
        assert tokens <= budget or w.end - w.start == 1, (w, tokens)


@given(token_counts, budget_and_stride)
def test_window_starts_strictly_increase(counts: list[int], bs: tuple[int, int]) -> None:
    starts = [w.start for w in plan_windows(counts, *bs)]

    assert starts == sorted(set(starts))


@given(token_counts, budget_and_stride)
def test_every_word_has_exactly_one_owner_window_that_contains_it(
    counts: list[int], bs: tuple[int, int]
) -> None:
    windows = plan_windows(counts, *bs)

    owners = owner_windows(windows, len(counts))

    assert len(owners) == len(counts)
    for word, owner in enumerate(owners):
        assert windows[owner].start <= word < windows[owner].end
